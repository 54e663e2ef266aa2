// AssemblyScript source of the S4D long-convolution hot path (compiled to wasm with SIMD by
// scripts/build-wasm.mjs into host/src/ssm/wasm/wasm-bytes.ts; host/src/ssm/conv/engine-wasm.ts drives it).
// Same algorithm as host/src/ssm/fft.ts and conv/conv.ts (see the formulas there); this file only makes
// it fast: SIMD lanes run over consecutive butterflies j, j+1, … of the split re/im arrays, so every
// vector operation is vertical. Everything is generic over the element type T: f64 (2 lanes; the
// float64 path) or f32 (4 lanes, half the memory traffic; the path of the float32 tfjs op).
// The caller owns the memory layout and passes byte pointers; the memory is shared, and threads run
// disjoint channel (or batch) ranges with their own scratch.
//
// Plan block for FFT size n (elements of T): twRe[n] twIm[n] tw3Re[n/2] tw3Im[n/2], as in fft.ts:
//   tw[h + j] = e^{−2πij/(2h)},  tw3[q + j] = e^{−2πi·3j/(4q)}.
// Requires n ≥ 16 and L ≤ n/2.

// ---------------------------------------------------------------- element-type helpers (compile-time)

function at<T>(i: i32): usize {
  return <usize>i * sizeof<T>();
}

function lanes<T>(): i32 {
  return <i32>(16 / sizeof<T>());
}

function vadd<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() === 4) return f32x4.add(a, b);
  return f64x2.add(a, b);
}

function vsub<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() === 4) return f32x4.sub(a, b);
  return f64x2.sub(a, b);
}

function vmul<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() === 4) return f32x4.mul(a, b);
  return f64x2.mul(a, b);
}

function vneg<T>(a: v128): v128 {
  if (sizeof<T>() === 4) return f32x4.neg(a);
  return f64x2.neg(a);
}

function vsplat<T>(x: f64): v128 {
  if (sizeof<T>() === 4) return f32x4.splat(<f32>x);
  return f64x2.splat(x);
}

/** Real part of (ar + i·ai)(br + i·bi). */
function cmr<T>(ar: v128, ai: v128, br: v128, bi: v128): v128 {
  return vsub<T>(vmul<T>(ar, br), vmul<T>(ai, bi));
}

/** Imaginary part of (ar + i·ai)(br + i·bi). */
function cmi<T>(ar: v128, ai: v128, br: v128, bi: v128): v128 {
  return vadd<T>(vmul<T>(ar, bi), vmul<T>(ai, br));
}

function isOdd(n: i32): bool {
  return (ctz(n) & 1) === 1;
}

// ---------------------------------------------------------------- FFT passes

/** DIF radix-2 stage (half = n/2); with `zeroUpper` the upper half is taken as 0. */
function dif2<T>(re: usize, im: usize, n: i32, plan: usize, zeroUpper: bool): void {
  const half = n >> 1;
  const twRe = plan + at<T>(half);
  const twIm = plan + at<T>(n) + at<T>(half);
  const ho = at<T>(half);
  for (let j = 0; j < half; j += lanes<T>()) {
    const o = at<T>(j);
    const ar = v128.load(re + o);
    const ai = v128.load(im + o);
    const wr = v128.load(twRe + o);
    const wi = v128.load(twIm + o);
    if (zeroUpper) {
      v128.store(re + ho + o, cmr<T>(ar, ai, wr, wi));
      v128.store(im + ho + o, cmi<T>(ar, ai, wr, wi));
    } else {
      const br = v128.load(re + ho + o);
      const bi = v128.load(im + ho + o);
      v128.store(re + o, vadd<T>(ar, br));
      v128.store(im + o, vadd<T>(ai, bi));
      const dr = vsub<T>(ar, br);
      const di = vsub<T>(ai, bi);
      v128.store(re + ho + o, cmr<T>(dr, di, wr, wi));
      v128.store(im + ho + o, cmi<T>(dr, di, wr, wi));
    }
  }
}

/**
 * DIF radix-2² pass on blocks of 4q (q ≥ 4); `zeroUpper` (single block): x2 = x3 = 0. With w = e^{−2πij/(4q)}:
 *   z0 = (x0 + x2) + (x1 + x3)          z1 = w²·((x0 + x2) − (x1 + x3))
 *   z2 = w·((x0 − x2) − i(x1 − x3))     z3 = w³·((x0 − x2) + i(x1 − x3))
 */
function dif4<T>(re: usize, im: usize, n: i32, q: i32, plan: usize, zeroUpper: bool): void {
  const twRe = plan;
  const twIm = plan + at<T>(n);
  const t3Re = plan + at<T>(2 * n);
  const t3Im = t3Re + at<T>(n >> 1);
  const size = 4 * q;
  const qo = at<T>(q);
  for (let s = 0; s < n; s += size) {
    for (let j = 0; j < q; j += lanes<T>()) {
      const p0 = at<T>(s + j);
      const w1o = at<T>(2 * q + j);
      const w2o = at<T>(q + j);
      const w1r = v128.load(twRe + w1o);
      const w1i = v128.load(twIm + w1o);
      const w2r = v128.load(twRe + w2o);
      const w2i = v128.load(twIm + w2o);
      const w3r = v128.load(t3Re + w2o);
      const w3i = v128.load(t3Im + w2o);
      const x0r = v128.load(re + p0);
      const x0i = v128.load(im + p0);
      const x1r = v128.load(re + p0 + qo);
      const x1i = v128.load(im + p0 + qo);
      let ar = x0r,
        ai = x0i,
        br = x1r,
        bi = x1i,
        cr = x0r,
        ci = x0i,
        dr = x1r,
        di = x1i;
      if (!zeroUpper) {
        const x2r = v128.load(re + p0 + 2 * qo);
        const x2i = v128.load(im + p0 + 2 * qo);
        const x3r = v128.load(re + p0 + 3 * qo);
        const x3i = v128.load(im + p0 + 3 * qo);
        ar = vadd<T>(x0r, x2r);
        ai = vadd<T>(x0i, x2i);
        br = vadd<T>(x1r, x3r);
        bi = vadd<T>(x1i, x3i);
        cr = vsub<T>(x0r, x2r);
        ci = vsub<T>(x0i, x2i);
        dr = vsub<T>(x1r, x3r);
        di = vsub<T>(x1i, x3i);
      }
      v128.store(re + p0, vadd<T>(ar, br));
      v128.store(im + p0, vadd<T>(ai, bi));
      const e1r = vsub<T>(ar, br);
      const e1i = vsub<T>(ai, bi);
      v128.store(re + p0 + qo, cmr<T>(e1r, e1i, w2r, w2i));
      v128.store(im + p0 + qo, cmi<T>(e1r, e1i, w2r, w2i));
      const e2r = vadd<T>(cr, di);
      const e2i = vsub<T>(ci, dr);
      v128.store(re + p0 + 2 * qo, cmr<T>(e2r, e2i, w1r, w1i));
      v128.store(im + p0 + 2 * qo, cmi<T>(e2r, e2i, w1r, w1i));
      const e3r = vsub<T>(cr, di);
      const e3i = vadd<T>(ci, dr);
      v128.store(re + p0 + 3 * qo, cmr<T>(e3r, e3i, w3r, w3i));
      v128.store(im + p0 + 3 * qo, cmi<T>(e3r, e3i, w3r, w3i));
    }
  }
}

/** Twiddle-free last DIF pass (q = 1), scalar. */
function dif4q1<T>(re: usize, im: usize, n: i32): void {
  const e = sizeof<T>();
  for (let s = 0; s < n; s += 4) {
    const r = re + at<T>(s);
    const m = im + at<T>(s);
    const x0r = load<T>(r),
      x1r = load<T>(r + e),
      x2r = load<T>(r + 2 * e),
      x3r = load<T>(r + 3 * e);
    const x0i = load<T>(m),
      x1i = load<T>(m + e),
      x2i = load<T>(m + 2 * e),
      x3i = load<T>(m + 3 * e);
    const ar = x0r + x2r,
      ai = x0i + x2i,
      br = x1r + x3r,
      bi = x1i + x3i;
    const cr = x0r - x2r,
      ci = x0i - x2i,
      dr = x1r - x3r,
      di = x1i - x3i;
    store<T>(r, ar + br);
    store<T>(m, ai + bi);
    store<T>(r + e, ar - br);
    store<T>(m + e, ai - bi);
    store<T>(r + 2 * e, cr + di);
    store<T>(m + 2 * e, ci - dr);
    store<T>(r + 3 * e, cr - di);
    store<T>(m + 3 * e, ci + dr);
  }
}

/** Forward DIF (bit-reversed output) of a signal that is 0 from `len` on (len ≤ n/2); entries ≥ len are ignored. */
function forwardPadded<T>(re: usize, im: usize, n: i32, len: i32, plan: usize): void {
  const half = n >> 1;
  memory.fill(re + at<T>(len), 0, at<T>(half - len));
  memory.fill(im + at<T>(len), 0, at<T>(half - len));
  let q: i32;
  if (isOdd(n)) {
    dif2<T>(re, im, n, plan, true);
    q = n >> 3;
  } else {
    dif4<T>(re, im, n, n >> 2, plan, true);
    q = n >> 4;
  }
  for (; q >= 4; q >>= 2) dif4<T>(re, im, n, q, plan, false);
  dif4q1<T>(re, im, n);
}

/** Full forward DIF (bit-reversed output), unscaled. */
function forwardFull<T>(re: usize, im: usize, n: i32, plan: usize): void {
  let q: i32;
  if (isOdd(n)) {
    dif2<T>(re, im, n, plan, false);
    q = n >> 3;
  } else {
    q = n >> 2;
  }
  for (; q >= 4; q >>= 2) dif4<T>(re, im, n, q, plan, false);
  dif4q1<T>(re, im, n);
}

/** Twiddle-free first DIT pass (q = 1), scalar. */
function dit4q1<T>(re: usize, im: usize, n: i32): void {
  const e = sizeof<T>();
  for (let s = 0; s < n; s += 4) {
    const r = re + at<T>(s);
    const m = im + at<T>(s);
    const x0r = load<T>(r),
      x1r = load<T>(r + e),
      x2r = load<T>(r + 2 * e),
      x3r = load<T>(r + 3 * e);
    const x0i = load<T>(m),
      x1i = load<T>(m + e),
      x2i = load<T>(m + 2 * e),
      x3i = load<T>(m + 3 * e);
    const ar = x0r + x1r,
      ai = x0i + x1i,
      br = x0r - x1r,
      bi = x0i - x1i;
    const cr = x2r + x3r,
      ci = x2i + x3i,
      dr = x2r - x3r,
      di = x2i - x3i;
    store<T>(r, ar + cr);
    store<T>(m, ai + ci);
    store<T>(r + 2 * e, ar - cr);
    store<T>(m + 2 * e, ai - ci);
    store<T>(r + e, br - di);
    store<T>(m + e, bi + dr);
    store<T>(r + 3 * e, br + di);
    store<T>(m + 3 * e, bi - dr);
  }
}

/**
 * DIT radix-2² pass on blocks of 4q (q ≥ 4), conjugate twiddles c = e^{+2πij/(4q)}: t1 = c²·x1,
 * t2 = c·x2, t3 = c³·x3; out0 = (x0 + t1) + (t2 + t3), out2 = (x0 + t1) − (t2 + t3),
 * out1 = (x0 − t1) + i(t2 − t3), out3 = (x0 − t1) − i(t2 − t3). `head`: outputs 0 and 1 only.
 */
function dit4<T>(re: usize, im: usize, n: i32, q: i32, plan: usize, head: bool): void {
  const twRe = plan;
  const twIm = plan + at<T>(n);
  const t3Re = plan + at<T>(2 * n);
  const t3Im = t3Re + at<T>(n >> 1);
  const size = 4 * q;
  const qo = at<T>(q);
  for (let s = 0; s < n; s += size) {
    for (let j = 0; j < q; j += lanes<T>()) {
      const p0 = at<T>(s + j);
      const w1o = at<T>(2 * q + j);
      const w2o = at<T>(q + j);
      const c1r = v128.load(twRe + w1o);
      const c1i = vneg<T>(v128.load(twIm + w1o));
      const c2r = v128.load(twRe + w2o);
      const c2i = vneg<T>(v128.load(twIm + w2o));
      const c3r = v128.load(t3Re + w2o);
      const c3i = vneg<T>(v128.load(t3Im + w2o));
      const x0r = v128.load(re + p0);
      const x0i = v128.load(im + p0);
      const y1r = v128.load(re + p0 + qo);
      const y1i = v128.load(im + p0 + qo);
      const y2r = v128.load(re + p0 + 2 * qo);
      const y2i = v128.load(im + p0 + 2 * qo);
      const y3r = v128.load(re + p0 + 3 * qo);
      const y3i = v128.load(im + p0 + 3 * qo);
      const t1r = cmr<T>(y1r, y1i, c2r, c2i),
        t1i = cmi<T>(y1r, y1i, c2r, c2i);
      const t2r = cmr<T>(y2r, y2i, c1r, c1i),
        t2i = cmi<T>(y2r, y2i, c1r, c1i);
      const t3r = cmr<T>(y3r, y3i, c3r, c3i),
        t3i = cmi<T>(y3r, y3i, c3r, c3i);
      const ar = vadd<T>(x0r, t1r),
        ai = vadd<T>(x0i, t1i);
      const br = vsub<T>(x0r, t1r),
        bi = vsub<T>(x0i, t1i);
      const cr = vadd<T>(t2r, t3r),
        ci = vadd<T>(t2i, t3i);
      const dr = vsub<T>(t2r, t3r),
        di = vsub<T>(t2i, t3i);
      v128.store(re + p0, vadd<T>(ar, cr));
      v128.store(im + p0, vadd<T>(ai, ci));
      v128.store(re + p0 + qo, vsub<T>(br, di));
      v128.store(im + p0 + qo, vadd<T>(bi, dr));
      if (!head) {
        v128.store(re + p0 + 2 * qo, vsub<T>(ar, cr));
        v128.store(im + p0 + 2 * qo, vsub<T>(ai, ci));
        v128.store(re + p0 + 3 * qo, vadd<T>(br, di));
        v128.store(im + p0 + 3 * qo, vsub<T>(bi, dr));
      }
    }
  }
}

/** DIT radix-2 stage (half = n/2), conjugate twiddles; `head`: lower half only. */
function dit2<T>(re: usize, im: usize, n: i32, plan: usize, head: bool): void {
  const half = n >> 1;
  const twRe = plan + at<T>(half);
  const twIm = plan + at<T>(n) + at<T>(half);
  const ho = at<T>(half);
  for (let j = 0; j < half; j += lanes<T>()) {
    const o = at<T>(j);
    const wr = v128.load(twRe + o);
    const wi = vneg<T>(v128.load(twIm + o));
    const xr = v128.load(re + ho + o);
    const xi = v128.load(im + ho + o);
    const br = cmr<T>(xr, xi, wr, wi);
    const bi = cmi<T>(xr, xi, wr, wi);
    const ar = v128.load(re + o);
    const ai = v128.load(im + o);
    v128.store(re + o, vadd<T>(ar, br));
    v128.store(im + o, vadd<T>(ai, bi));
    if (!head) {
      v128.store(re + ho + o, vsub<T>(ar, br));
      v128.store(im + ho + o, vsub<T>(ai, bi));
    }
  }
}

/** Inverse DIT from bit-reversed order, unscaled; `head`: only outputs below n/2 are valid. */
function inverse<T>(re: usize, im: usize, n: i32, plan: usize, head: bool): void {
  dit4q1<T>(re, im, n);
  if (isOdd(n)) {
    const span = n >> 1;
    for (let q = 4; 4 * q <= span; q <<= 2) dit4<T>(re, im, n, q, plan, false);
    dit2<T>(re, im, n, plan, head);
  } else {
    let q = 4;
    for (; 4 * q < n; q <<= 2) dit4<T>(re, im, n, q, plan, false);
    dit4<T>(re, im, n, q, plan, head);
  }
}

// ---------------------------------------------------------------- per channel

/** Kernel spectrum, in place: forward FFT of (kRe, kIm) scaled by 1/n; `len` > 0: zero from len on. */
function kernelSpectrum<T>(kRe: usize, kIm: usize, n: i32, len: i32, plan: usize): void {
  if (len > 0) forwardPadded<T>(kRe, kIm, n, len, plan);
  else forwardFull<T>(kRe, kIm, n, plan);
  const s = vsplat<T>(1.0 / <f64>n);
  for (let f = 0; f < n; f += lanes<T>()) {
    const o = at<T>(f);
    v128.store(kRe + o, vmul<T>(v128.load(kRe + o), s));
    v128.store(kIm + o, vmul<T>(v128.load(kIm + o), s));
  }
}

/** Saved pair spectrum at element f of a pair block: f32 storage for T = f32 or when f32 is asked. */
function loadSaved<T>(ptr: usize, f: i32, f32: bool): v128 {
  if (sizeof<T>() === 4) return v128.load(ptr + ((<usize>f) << 2));
  if (f32) return f64x2.promote_low_f32x4(v128.load64_zero(ptr + ((<usize>f) << 2)));
  return v128.load(ptr + ((<usize>f) << 3));
}

function storeSaved<T>(ptr: usize, f: i32, f32: bool, v: v128): void {
  if (sizeof<T>() === 4) v128.store(ptr + ((<usize>f) << 2), v);
  else if (f32) v128.store64_lane(ptr + ((<usize>f) << 2), f32x4.demote_f64x2_zero(v), 0);
  else v128.store(ptr + ((<usize>f) << 3), v);
}

/**
 * Forward of one channel: B rows of L (T, contiguous) in `rows`, two rows per complex FFT; writes the
 * conv part of y (without D·u) to `yRows` and each pair's spectrum to sRe/sIm[pair·n]. work: 2n of T.
 */
function forwardChannel<T>(
  rows: usize,
  yRows: usize,
  B: i32,
  L: i32,
  n: i32,
  plan: usize,
  work: usize,
  kRe: usize,
  kIm: usize,
  sRe: usize,
  sIm: usize,
  f32: bool,
): void {
  const re = work;
  const im = work + at<T>(n);
  const rowBytes = at<T>(L);
  const pairs = (B + 1) >> 1;
  for (let q = 0; q < pairs; q++) {
    const src = rows + 2 * <usize>q * rowBytes;
    const dst = yRows + 2 * <usize>q * rowBytes;
    const second = 2 * q + 1 < B;
    memory.copy(re, src, rowBytes);
    if (second) memory.copy(im, src + rowBytes, rowBytes);
    else memory.fill(im, 0, rowBytes);
    forwardPadded<T>(re, im, n, L, plan);
    // Save the spectrum, then multiply by K.
    for (let f = 0; f < n; f += lanes<T>()) {
      const o = at<T>(f);
      const ar = v128.load(re + o);
      const ai = v128.load(im + o);
      storeSaved<T>(sRe, q * n + f, f32, ar);
      storeSaved<T>(sIm, q * n + f, f32, ai);
      const br = v128.load(kRe + o);
      const bi = v128.load(kIm + o);
      v128.store(re + o, cmr<T>(ar, ai, br, bi));
      v128.store(im + o, cmi<T>(ar, ai, br, bi));
    }
    inverse<T>(re, im, n, plan, true);
    memory.copy(dst, re, rowBytes);
    if (second) memory.copy(dst + rowBytes, im, rowBytes);
  }
}

/**
 * Backward of one channel: dy rows in `dyRows`; writes the conv part of du (without D·dy) to `duRows`
 * and accumulates Σ_pairs DY·conj(U) into accRe/accIm (n of T each, zeroed here).
 */
function backwardChannel<T>(
  dyRows: usize,
  duRows: usize,
  B: i32,
  L: i32,
  n: i32,
  plan: usize,
  work: usize,
  kRe: usize,
  kIm: usize,
  sRe: usize,
  sIm: usize,
  f32: bool,
  accRe: usize,
  accIm: usize,
): void {
  const re = work;
  const im = work + at<T>(n);
  const rowBytes = at<T>(L);
  const pairs = (B + 1) >> 1;
  memory.fill(accRe, 0, at<T>(n));
  memory.fill(accIm, 0, at<T>(n));
  for (let q = 0; q < pairs; q++) {
    const src = dyRows + 2 * <usize>q * rowBytes;
    const dst = duRows + 2 * <usize>q * rowBytes;
    const second = 2 * q + 1 < B;
    memory.copy(re, src, rowBytes);
    if (second) memory.copy(im, src + rowBytes, rowBytes);
    else memory.fill(im, 0, rowBytes);
    forwardPadded<T>(re, im, n, L, plan);
    for (let f = 0; f < n; f += lanes<T>()) {
      const o = at<T>(f);
      const ar = v128.load(re + o);
      const ai = v128.load(im + o);
      const ur = loadSaved<T>(sRe, q * n + f, f32);
      const ui = loadSaved<T>(sIm, q * n + f, f32);
      // acc += DY·conj(U)
      v128.store(accRe + o, vadd<T>(v128.load(accRe + o), vadd<T>(vmul<T>(ar, ur), vmul<T>(ai, ui))));
      v128.store(accIm + o, vadd<T>(v128.load(accIm + o), vsub<T>(vmul<T>(ai, ur), vmul<T>(ar, ui))));
      // DU = DY·conj(K)
      const br = v128.load(kRe + o);
      const bi = v128.load(kIm + o);
      v128.store(re + o, vadd<T>(vmul<T>(ar, br), vmul<T>(ai, bi)));
      v128.store(im + o, vsub<T>(vmul<T>(ai, br), vmul<T>(ar, bi)));
    }
    inverse<T>(re, im, n, plan, true);
    memory.copy(dst, re, rowBytes);
    if (second) memory.copy(dst + rowBytes, im, rowBytes);
  }
}

// ---------------------------------------------------------------- channel ranges (one per thread)

/**
 * Forward of active rows r0 ≤ r < r1 (of A): builds each channel's circular kernel k' from kRows
 * (f64 [dirs·A, L]: forward rows, then backward rows at lags −1, −2, …) into kSpec (T; re block [A, n],
 * then im block), takes its spectrum (÷ n), and runs forwardChannel with the pair spectra saved at
 * spec (re block [A, pairs, n], then im block; f32 when T = f32 or `f32`). work: 2n of T, this thread's.
 */
function forwardRangeT<T>(
  r0: i32,
  r1: i32,
  A: i32,
  dirs: i32,
  kRows: usize,
  kSpec: usize,
  rows: usize,
  out: usize,
  spec: usize,
  B: i32,
  L: i32,
  n: i32,
  plan: usize,
  work: usize,
  f32: bool,
): void {
  const pairs = (B + 1) >> 1;
  const specBytes: usize = sizeof<T>() === 4 || f32 ? 4 : 8;
  const specBlock = <usize>A * <usize>pairs * <usize>n * specBytes;
  const kBlock = at<T>(A * n);
  const rowBytes = at<T>(B * L);
  for (let r = r0; r < r1; r++) {
    const kRe = kSpec + at<T>(r * n);
    const kIm = kRe + kBlock;
    memory.fill(kRe, 0, at<T>(n));
    memory.fill(kIm, 0, at<T>(n));
    const fwd = kRows + ((<usize>(r * L)) << 3);
    for (let l = 0; l < L; l++) store<T>(kRe + at<T>(l), <T>load<f64>(fwd + ((<usize>l) << 3)));
    if (dirs === 2) {
      const back = kRows + ((<usize>((A + r) * L)) << 3);
      for (let l = 0; l < L; l++) store<T>(kRe + at<T>(n - 1 - l), <T>load<f64>(back + ((<usize>l) << 3)));
    }
    kernelSpectrum<T>(kRe, kIm, n, dirs === 1 ? L : 0, plan);
    const sRe = spec + <usize>r * <usize>pairs * <usize>n * specBytes;
    forwardChannel<T>(
      rows + <usize>r * rowBytes,
      out + <usize>r * rowBytes,
      B,
      L,
      n,
      plan,
      work,
      kRe,
      kIm,
      sRe,
      sRe + specBlock,
      f32,
    );
  }
}

/**
 * Backward of active rows r0 ≤ r < r1: dy rows in `rows`, du rows (without D·dy) to `out`, and
 * dk rows (f64 [dirs·A, L], the ÷ n applied) from the inverse of Σ_pairs DY·conj(U). acc and work:
 * 2n of T each, this thread's own.
 */
function backwardRangeT<T>(
  r0: i32,
  r1: i32,
  A: i32,
  dirs: i32,
  kSpec: usize,
  rows: usize,
  out: usize,
  spec: usize,
  B: i32,
  L: i32,
  n: i32,
  plan: usize,
  work: usize,
  f32: bool,
  acc: usize,
  dk: usize,
): void {
  const pairs = (B + 1) >> 1;
  const specBytes: usize = sizeof<T>() === 4 || f32 ? 4 : 8;
  const specBlock = <usize>A * <usize>pairs * <usize>n * specBytes;
  const kBlock = at<T>(A * n);
  const rowBytes = at<T>(B * L);
  const accIm = acc + at<T>(n);
  const invN = 1.0 / <f64>n;
  for (let r = r0; r < r1; r++) {
    const kRe = kSpec + at<T>(r * n);
    const sRe = spec + <usize>r * <usize>pairs * <usize>n * specBytes;
    backwardChannel<T>(
      rows + <usize>r * rowBytes,
      out + <usize>r * rowBytes,
      B,
      L,
      n,
      plan,
      work,
      kRe,
      kRe + kBlock,
      sRe,
      sRe + specBlock,
      f32,
      acc,
      accIm,
    );
    inverse<T>(acc, accIm, n, plan, dirs === 1);
    const fwd = dk + ((<usize>(r * L)) << 3);
    for (let l = 0; l < L; l++) store<f64>(fwd + ((<usize>l) << 3), <f64>load<T>(acc + at<T>(l)) * invN);
    if (dirs === 2) {
      const back = dk + ((<usize>((A + r) * L)) << 3);
      for (let l = 0; l < L; l++) store<f64>(back + ((<usize>l) << 3), <f64>load<T>(acc + at<T>(n - 1 - l)) * invN);
    }
  }
}

/** forwardRangeT in single (f32) or double (f64) precision; see there. */
export function forwardRange(
  r0: i32,
  r1: i32,
  A: i32,
  dirs: i32,
  kRows: usize,
  kSpec: usize,
  rows: usize,
  out: usize,
  spec: usize,
  B: i32,
  L: i32,
  n: i32,
  plan: usize,
  work: usize,
  f32: bool,
  single: bool,
): void {
  if (single) forwardRangeT<f32>(r0, r1, A, dirs, kRows, kSpec, rows, out, spec, B, L, n, plan, work, true);
  else forwardRangeT<f64>(r0, r1, A, dirs, kRows, kSpec, rows, out, spec, B, L, n, plan, work, f32);
}

/** backwardRangeT in single (f32) or double (f64) precision; see there. */
export function backwardRange(
  r0: i32,
  r1: i32,
  A: i32,
  dirs: i32,
  kSpec: usize,
  rows: usize,
  out: usize,
  spec: usize,
  B: i32,
  L: i32,
  n: i32,
  plan: usize,
  work: usize,
  f32: bool,
  acc: usize,
  dk: usize,
  single: bool,
): void {
  if (single) backwardRangeT<f32>(r0, r1, A, dirs, kSpec, rows, out, spec, B, L, n, plan, work, true, acc, dk);
  else backwardRangeT<f64>(r0, r1, A, dirs, kSpec, rows, out, spec, B, L, n, plan, work, f32, acc, dk);
}

// ---------------------------------------------------------------- layout changes (float32 tensors)

/**
 * rows[(r·B + b)·L + t] = x[(b·L + t)·H + active[r]] (x f32 channels-last; rows T) for b0 ≤ b < b1.
 * Time outer, channels inner: x is read in order, and the A row streams being written advance together
 * (a few KiB of cache lines). With dd ≠ 0 also dd[r] += Σ x·u (u f32, same layout; dd f64).
 */
function gatherRowsT<T>(
  x: usize,
  rows: usize,
  active: usize,
  A: i32,
  B: i32,
  L: i32,
  H: i32,
  u: usize,
  dd: usize,
  b0: i32,
  b1: i32,
): void {
  const dot = dd !== 0;
  const rowStride = at<T>(B * L);
  for (let b = b0; b < b1; b++) {
    for (let t = 0; t < L; t++) {
      const base = (<usize>((b * L + t) * H)) << 2;
      let dst = rows + at<T>(b * L + t);
      for (let r = 0; r < A; r++) {
        const idx = base + ((<usize>load<i32>(active + ((<usize>r) << 2))) << 2);
        const v = load<f32>(x + idx);
        store<T>(dst, <T>v);
        if (dot) {
          const q = dd + ((<usize>r) << 3);
          store<f64>(q, load<f64>(q) + <f64>v * <f64>load<f32>(u + idx));
        }
        dst += rowStride;
      }
    }
  }
}

/**
 * out[(b·L + t)·H + h] = rows[(r·B + b)·L + t] + d[r]·x[(b·L + t)·H + h] for h = active[r], b0 ≤ b < b1
 * (out, x f32; rows T; d f64 per row). Same loop order as gatherRowsT.
 */
function scatterRowsT<T>(
  rows: usize,
  x: usize,
  d: usize,
  out: usize,
  active: usize,
  A: i32,
  B: i32,
  L: i32,
  H: i32,
  b0: i32,
  b1: i32,
): void {
  const rowStride = at<T>(B * L);
  for (let b = b0; b < b1; b++) {
    for (let t = 0; t < L; t++) {
      const base = (<usize>((b * L + t) * H)) << 2;
      let src = rows + at<T>(b * L + t);
      for (let r = 0; r < A; r++) {
        const idx = base + ((<usize>load<i32>(active + ((<usize>r) << 2))) << 2);
        const dh = load<f64>(d + ((<usize>r) << 3));
        store<f32>(out + idx, <f32>(<f64>load<T>(src) + dh * <f64>load<f32>(x + idx)));
        src += rowStride;
      }
    }
  }
}

export function gatherRows(
  x: usize,
  rows: usize,
  active: usize,
  A: i32,
  B: i32,
  L: i32,
  H: i32,
  u: usize,
  dd: usize,
  b0: i32,
  b1: i32,
  single: bool,
): void {
  if (single) gatherRowsT<f32>(x, rows, active, A, B, L, H, u, dd, b0, b1);
  else gatherRowsT<f64>(x, rows, active, A, B, L, H, u, dd, b0, b1);
}

export function scatterRows(
  rows: usize,
  x: usize,
  d: usize,
  out: usize,
  active: usize,
  A: i32,
  B: i32,
  L: i32,
  H: i32,
  b0: i32,
  b1: i32,
  single: bool,
): void {
  if (single) scatterRowsT<f32>(rows, x, d, out, active, A, B, L, H, b0, b1);
  else scatterRowsT<f64>(rows, x, d, out, active, A, B, L, H, b0, b1);
}

// ---------------------------------------------------------------- S4D kernel (f64; see host/src/ssm/s4d/kernel.ts, gradient.ts)

/**
 * Kernel rows r0 ≤ r < r1: out[(d·A + r)·L + l] = Σ_m 2·Re(C'[r, m, d]·z[r, m]^l) for direction d < dirs.
 * modes: f64 records of (2 + 2·dirs) per (r, m): zr, zi, then C' re, im per direction. The two lanes hold
 * powers l and l+1; two chains (l ≡ 0, 1 and l ≡ 2, 3 mod 4) step by z⁴, so the multiply latency overlaps.
 */
export function kernelForwardRange(
  r0: i32,
  r1: i32,
  A: i32,
  M: i32,
  L: i32,
  dirs: i32,
  modes: usize,
  out: usize,
): void {
  const rec = 2 + 2 * dirs;
  for (let r = r0; r < r1; r++) {
    for (let d = 0; d < dirs; d++) memory.fill(out + at<f64>((d * A + r) * L), 0, at<f64>(L));
    for (let m = 0; m < M; m++) {
      const p = modes + at<f64>((r * M + m) * rec);
      const zr = load<f64>(p),
        zi = load<f64>(p, 8);
      const z2r = zr * zr - zi * zi,
        z2i = 2 * zr * zi;
      const z3r = z2r * zr - z2i * zi,
        z3i = z2r * zi + z2i * zr;
      const z4r = z2r * z2r - z2i * z2i,
        z4i = 2 * z2r * z2i;
      const s4r = f64x2.splat(z4r),
        s4i = f64x2.splat(z4i);
      for (let d = 0; d < dirs; d++) {
        const cr = load<f64>(p + at<f64>(2 + 2 * d)),
          ci = load<f64>(p + at<f64>(3 + 2 * d));
        // lanes (l, l+1) = (C'·z^0, C'·z^1) and (C'·z², C'·z³)
        let ar = f64x2.replace_lane(f64x2.splat(cr), 1, cr * zr - ci * zi);
        let ai = f64x2.replace_lane(f64x2.splat(ci), 1, cr * zi + ci * zr);
        let br = f64x2.replace_lane(f64x2.splat(cr * z2r - ci * z2i), 1, cr * z3r - ci * z3i);
        let bi = f64x2.replace_lane(f64x2.splat(cr * z2i + ci * z2r), 1, cr * z3i + ci * z3r);
        const two = f64x2.splat(2.0);
        const row = out + at<f64>((d * A + r) * L);
        let l = 0;
        for (; l + 3 < L; l += 4) {
          const o = row + at<f64>(l);
          v128.store(o, f64x2.add(v128.load(o), f64x2.mul(two, ar)));
          v128.store(o + 16, f64x2.add(v128.load(o + 16), f64x2.mul(two, br)));
          const nar = cmr<f64>(ar, ai, s4r, s4i);
          ai = cmi<f64>(ar, ai, s4r, s4i);
          ar = nar;
          const nbr = cmr<f64>(br, bi, s4r, s4i);
          bi = cmi<f64>(br, bi, s4r, s4i);
          br = nbr;
        }
        // Tail: powers l, l+1, l+2 are lanes 0, 1 of a and lane 0 of b.
        if (l < L) store<f64>(row + at<f64>(l), load<f64>(row + at<f64>(l)) + 2 * f64x2.extract_lane(ar, 0));
        if (l + 1 < L)
          store<f64>(row + at<f64>(l + 1), load<f64>(row + at<f64>(l + 1)) + 2 * f64x2.extract_lane(ar, 1));
        if (l + 2 < L)
          store<f64>(row + at<f64>(l + 2), load<f64>(row + at<f64>(l + 2)) + 2 * f64x2.extract_lane(br, 0));
      }
    }
  }
}

/**
 * For rows r0 ≤ r < r1, every mode m and direction d: S0 = Σ_l dK[(d·A + r)·L + l]·z^l and
 * S1 = Σ_l dK[…]·l·z^l, written as sums[((r·M + m)·dirs + d)·4 + 0..3] = Re S0, Im S0, Re S1, Im S1.
 * modes as in kernelForwardRange (only zr, zi are read); same two-lane, two-chain scheme.
 */
export function kernelSumsRange(
  r0: i32,
  r1: i32,
  A: i32,
  M: i32,
  L: i32,
  dirs: i32,
  modes: usize,
  dK: usize,
  sums: usize,
): void {
  const rec = 2 + 2 * dirs;
  for (let r = r0; r < r1; r++) {
    for (let m = 0; m < M; m++) {
      const p = modes + at<f64>((r * M + m) * rec);
      const zr = load<f64>(p),
        zi = load<f64>(p, 8);
      const z2r = zr * zr - zi * zi,
        z2i = 2 * zr * zi;
      const z3r = z2r * zr - z2i * zi,
        z3i = z2r * zi + z2i * zr;
      const z4r = z2r * z2r - z2i * z2i,
        z4i = 2 * z2r * z2i;
      const s4r = f64x2.splat(z4r),
        s4i = f64x2.splat(z4i);
      for (let d = 0; d < dirs; d++) {
        const row = dK + at<f64>((d * A + r) * L);
        let ar = f64x2.replace_lane(f64x2.splat(1.0), 1, zr);
        let ai = f64x2.replace_lane(f64x2.splat(0.0), 1, zi);
        let br = f64x2.replace_lane(f64x2.splat(z2r), 1, z3r);
        let bi = f64x2.replace_lane(f64x2.splat(z2i), 1, z3i);
        let la = f64x2.replace_lane(f64x2.splat(0.0), 1, 1.0);
        let lb = f64x2.replace_lane(f64x2.splat(2.0), 1, 3.0);
        const four = f64x2.splat(4.0);
        let s0r = f64x2.splat(0.0),
          s0i = f64x2.splat(0.0),
          s1r = f64x2.splat(0.0),
          s1i = f64x2.splat(0.0);
        let t0r = f64x2.splat(0.0),
          t0i = f64x2.splat(0.0),
          t1r = f64x2.splat(0.0),
          t1i = f64x2.splat(0.0);
        let l = 0;
        for (; l + 3 < L; l += 4) {
          const ka = v128.load(row + at<f64>(l));
          const kb = v128.load(row + at<f64>(l + 2));
          s0r = f64x2.add(s0r, f64x2.mul(ka, ar));
          s0i = f64x2.add(s0i, f64x2.mul(ka, ai));
          const kla = f64x2.mul(ka, la);
          s1r = f64x2.add(s1r, f64x2.mul(kla, ar));
          s1i = f64x2.add(s1i, f64x2.mul(kla, ai));
          t0r = f64x2.add(t0r, f64x2.mul(kb, br));
          t0i = f64x2.add(t0i, f64x2.mul(kb, bi));
          const klb = f64x2.mul(kb, lb);
          t1r = f64x2.add(t1r, f64x2.mul(klb, br));
          t1i = f64x2.add(t1i, f64x2.mul(klb, bi));
          const nar = cmr<f64>(ar, ai, s4r, s4i);
          ai = cmi<f64>(ar, ai, s4r, s4i);
          ar = nar;
          const nbr = cmr<f64>(br, bi, s4r, s4i);
          bi = cmi<f64>(br, bi, s4r, s4i);
          br = nbr;
          la = f64x2.add(la, four);
          lb = f64x2.add(lb, four);
        }
        let a0r =
          f64x2.extract_lane(s0r, 0) +
          f64x2.extract_lane(s0r, 1) +
          f64x2.extract_lane(t0r, 0) +
          f64x2.extract_lane(t0r, 1);
        let a0i =
          f64x2.extract_lane(s0i, 0) +
          f64x2.extract_lane(s0i, 1) +
          f64x2.extract_lane(t0i, 0) +
          f64x2.extract_lane(t0i, 1);
        let a1r =
          f64x2.extract_lane(s1r, 0) +
          f64x2.extract_lane(s1r, 1) +
          f64x2.extract_lane(t1r, 0) +
          f64x2.extract_lane(t1r, 1);
        let a1i =
          f64x2.extract_lane(s1i, 0) +
          f64x2.extract_lane(s1i, 1) +
          f64x2.extract_lane(t1i, 0) +
          f64x2.extract_lane(t1i, 1);
        // Tail: powers l, l+1, l+2 are lanes 0, 1 of a and lane 0 of b.
        for (let i = 0; l + i < L && i < 3; i++) {
          const k = load<f64>(row + at<f64>(l + i));
          const pr =
            i === 0 ? f64x2.extract_lane(ar, 0) : i === 1 ? f64x2.extract_lane(ar, 1) : f64x2.extract_lane(br, 0);
          const pi =
            i === 0 ? f64x2.extract_lane(ai, 0) : i === 1 ? f64x2.extract_lane(ai, 1) : f64x2.extract_lane(bi, 0);
          a0r += k * pr;
          a0i += k * pi;
          a1r += k * <f64>(l + i) * pr;
          a1i += k * <f64>(l + i) * pi;
        }
        const q = sums + at<f64>(((r * M + m) * dirs + d) * 4);
        store<f64>(q, a0r);
        store<f64>(q, a0i, 8);
        store<f64>(q, a1r, 16);
        store<f64>(q, a1i, 24);
      }
    }
  }
}
