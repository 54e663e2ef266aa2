// AssemblyScript source of the S4D long-convolution hot path (compiled to wasm with SIMD by
// scripts/build-wasm.mjs into host/src/ssm/wasm-bytes.ts; host/src/ssm/conv-wasm.ts drives it).
// Same algorithm as host/src/ssm/fft.ts and conv.ts (see the formulas there); this file only makes
// it fast: f64x2 lanes run over two consecutive butterflies j, j+1 of the split re/im arrays, so
// every vector operation is vertical. The caller owns the memory layout and passes byte pointers;
// the memory is shared, and threads run disjoint channel (or batch) ranges with their own scratch.
//
// Plan block for FFT size n (f64): twRe[n] twIm[n] tw3Re[n/2] tw3Im[n/2], as in fft.ts:
//   tw[h + j] = e^{−2πij/(2h)},  tw3[q + j] = e^{−2πi·3j/(4q)}.
// Requires n ≥ 16 and L ≤ n/2.

function off(i: i32): usize {
  return (<usize>i) << 3;
}

function cmr(ar: v128, ai: v128, br: v128, bi: v128): v128 {
  return f64x2.sub(f64x2.mul(ar, br), f64x2.mul(ai, bi));
}

function cmi(ar: v128, ai: v128, br: v128, bi: v128): v128 {
  return f64x2.add(f64x2.mul(ar, bi), f64x2.mul(ai, br));
}

function isOdd(n: i32): bool {
  return (ctz(n) & 1) === 1;
}

/** DIF radix-2 stage (half = n/2); with `zeroUpper` the upper half is taken as 0. */
function dif2(re: usize, im: usize, n: i32, plan: usize, zeroUpper: bool): void {
  const half = n >> 1;
  const twRe = plan + off(half);
  const twIm = plan + off(n) + off(half);
  const ho = off(half);
  for (let j = 0; j < half; j += 2) {
    const o = off(j);
    const ar = v128.load(re + o);
    const ai = v128.load(im + o);
    const wr = v128.load(twRe + o);
    const wi = v128.load(twIm + o);
    if (zeroUpper) {
      v128.store(re + ho + o, cmr(ar, ai, wr, wi));
      v128.store(im + ho + o, cmi(ar, ai, wr, wi));
    } else {
      const br = v128.load(re + ho + o);
      const bi = v128.load(im + ho + o);
      v128.store(re + o, f64x2.add(ar, br));
      v128.store(im + o, f64x2.add(ai, bi));
      const dr = f64x2.sub(ar, br);
      const di = f64x2.sub(ai, bi);
      v128.store(re + ho + o, cmr(dr, di, wr, wi));
      v128.store(im + ho + o, cmi(dr, di, wr, wi));
    }
  }
}

/** DIF radix-2² pass on blocks of 4q (q ≥ 2 even); `zeroUpper` (single block): x2 = x3 = 0. */
function dif4(re: usize, im: usize, n: i32, q: i32, plan: usize, zeroUpper: bool): void {
  const twRe = plan;
  const twIm = plan + off(n);
  const t3Re = plan + off(2 * n);
  const t3Im = t3Re + off(n >> 1);
  const size = 4 * q;
  const qo = off(q);
  for (let s = 0; s < n; s += size) {
    for (let j = 0; j < q; j += 2) {
      const p0 = off(s + j);
      const w1o = off(2 * q + j);
      const w2o = off(q + j);
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
      let ar = x0r, ai = x0i, br = x1r, bi = x1i, cr = x0r, ci = x0i, dr = x1r, di = x1i;
      if (!zeroUpper) {
        const x2r = v128.load(re + p0 + 2 * qo);
        const x2i = v128.load(im + p0 + 2 * qo);
        const x3r = v128.load(re + p0 + 3 * qo);
        const x3i = v128.load(im + p0 + 3 * qo);
        ar = f64x2.add(x0r, x2r);
        ai = f64x2.add(x0i, x2i);
        br = f64x2.add(x1r, x3r);
        bi = f64x2.add(x1i, x3i);
        cr = f64x2.sub(x0r, x2r);
        ci = f64x2.sub(x0i, x2i);
        dr = f64x2.sub(x1r, x3r);
        di = f64x2.sub(x1i, x3i);
      }
      v128.store(re + p0, f64x2.add(ar, br));
      v128.store(im + p0, f64x2.add(ai, bi));
      const e1r = f64x2.sub(ar, br);
      const e1i = f64x2.sub(ai, bi);
      v128.store(re + p0 + qo, cmr(e1r, e1i, w2r, w2i));
      v128.store(im + p0 + qo, cmi(e1r, e1i, w2r, w2i));
      const e2r = f64x2.add(cr, di);
      const e2i = f64x2.sub(ci, dr);
      v128.store(re + p0 + 2 * qo, cmr(e2r, e2i, w1r, w1i));
      v128.store(im + p0 + 2 * qo, cmi(e2r, e2i, w1r, w1i));
      const e3r = f64x2.sub(cr, di);
      const e3i = f64x2.add(ci, dr);
      v128.store(re + p0 + 3 * qo, cmr(e3r, e3i, w3r, w3i));
      v128.store(im + p0 + 3 * qo, cmi(e3r, e3i, w3r, w3i));
    }
  }
}

/** Twiddle-free last DIF pass (q = 1), scalar. */
function dif4q1(re: usize, im: usize, n: i32): void {
  for (let s = 0; s < n; s += 4) {
    const o = off(s);
    const x0r = load<f64>(re + o), x1r = load<f64>(re + o, 8), x2r = load<f64>(re + o, 16), x3r = load<f64>(re + o, 24);
    const x0i = load<f64>(im + o), x1i = load<f64>(im + o, 8), x2i = load<f64>(im + o, 16), x3i = load<f64>(im + o, 24);
    const ar = x0r + x2r, ai = x0i + x2i, br = x1r + x3r, bi = x1i + x3i;
    const cr = x0r - x2r, ci = x0i - x2i, dr = x1r - x3r, di = x1i - x3i;
    store<f64>(re + o, ar + br);
    store<f64>(im + o, ai + bi);
    store<f64>(re + o, ar - br, 8);
    store<f64>(im + o, ai - bi, 8);
    store<f64>(re + o, cr + di, 16);
    store<f64>(im + o, ci - dr, 16);
    store<f64>(re + o, cr - di, 24);
    store<f64>(im + o, ci + dr, 24);
  }
}

/** Forward DIF (bit-reversed output) of a signal that is 0 from `len` on (len ≤ n/2); entries ≥ len are ignored. */
function forwardPadded(re: usize, im: usize, n: i32, len: i32, plan: usize): void {
  const half = n >> 1;
  memory.fill(re + off(len), 0, off(half - len));
  memory.fill(im + off(len), 0, off(half - len));
  let q: i32;
  if (isOdd(n)) {
    dif2(re, im, n, plan, true);
    q = n >> 3;
  } else {
    dif4(re, im, n, n >> 2, plan, true);
    q = n >> 4;
  }
  for (; q >= 2; q >>= 2) dif4(re, im, n, q, plan, false);
  dif4q1(re, im, n);
}

/** Full forward DIF (bit-reversed output), unscaled. */
function forwardFull(re: usize, im: usize, n: i32, plan: usize): void {
  let q: i32;
  if (isOdd(n)) {
    dif2(re, im, n, plan, false);
    q = n >> 3;
  } else {
    q = n >> 2;
  }
  for (; q >= 2; q >>= 2) dif4(re, im, n, q, plan, false);
  dif4q1(re, im, n);
}

/** Twiddle-free first DIT pass (q = 1), scalar. */
function dit4q1(re: usize, im: usize, n: i32): void {
  for (let s = 0; s < n; s += 4) {
    const o = off(s);
    const x0r = load<f64>(re + o), x1r = load<f64>(re + o, 8), x2r = load<f64>(re + o, 16), x3r = load<f64>(re + o, 24);
    const x0i = load<f64>(im + o), x1i = load<f64>(im + o, 8), x2i = load<f64>(im + o, 16), x3i = load<f64>(im + o, 24);
    const ar = x0r + x1r, ai = x0i + x1i, br = x0r - x1r, bi = x0i - x1i;
    const cr = x2r + x3r, ci = x2i + x3i, dr = x2r - x3r, di = x2i - x3i;
    store<f64>(re + o, ar + cr);
    store<f64>(im + o, ai + ci);
    store<f64>(re + o, ar - cr, 16);
    store<f64>(im + o, ai - ci, 16);
    store<f64>(re + o, br - di, 8);
    store<f64>(im + o, bi + dr, 8);
    store<f64>(re + o, br + di, 24);
    store<f64>(im + o, bi - dr, 24);
  }
}

/** DIT radix-2² pass on blocks of 4q (q ≥ 2 even), conjugate twiddles; `head`: outputs 0 and 1 only. */
function dit4(re: usize, im: usize, n: i32, q: i32, plan: usize, head: bool): void {
  const twRe = plan;
  const twIm = plan + off(n);
  const t3Re = plan + off(2 * n);
  const t3Im = t3Re + off(n >> 1);
  const size = 4 * q;
  const qo = off(q);
  for (let s = 0; s < n; s += size) {
    for (let j = 0; j < q; j += 2) {
      const p0 = off(s + j);
      const w1o = off(2 * q + j);
      const w2o = off(q + j);
      const c1r = v128.load(twRe + w1o);
      const c1i = f64x2.neg(v128.load(twIm + w1o));
      const c2r = v128.load(twRe + w2o);
      const c2i = f64x2.neg(v128.load(twIm + w2o));
      const c3r = v128.load(t3Re + w2o);
      const c3i = f64x2.neg(v128.load(t3Im + w2o));
      const x0r = v128.load(re + p0);
      const x0i = v128.load(im + p0);
      const y1r = v128.load(re + p0 + qo);
      const y1i = v128.load(im + p0 + qo);
      const y2r = v128.load(re + p0 + 2 * qo);
      const y2i = v128.load(im + p0 + 2 * qo);
      const y3r = v128.load(re + p0 + 3 * qo);
      const y3i = v128.load(im + p0 + 3 * qo);
      const t1r = cmr(y1r, y1i, c2r, c2i), t1i = cmi(y1r, y1i, c2r, c2i);
      const t2r = cmr(y2r, y2i, c1r, c1i), t2i = cmi(y2r, y2i, c1r, c1i);
      const t3r = cmr(y3r, y3i, c3r, c3i), t3i = cmi(y3r, y3i, c3r, c3i);
      const ar = f64x2.add(x0r, t1r), ai = f64x2.add(x0i, t1i);
      const br = f64x2.sub(x0r, t1r), bi = f64x2.sub(x0i, t1i);
      const cr = f64x2.add(t2r, t3r), ci = f64x2.add(t2i, t3i);
      const dr = f64x2.sub(t2r, t3r), di = f64x2.sub(t2i, t3i);
      v128.store(re + p0, f64x2.add(ar, cr));
      v128.store(im + p0, f64x2.add(ai, ci));
      v128.store(re + p0 + qo, f64x2.sub(br, di));
      v128.store(im + p0 + qo, f64x2.add(bi, dr));
      if (!head) {
        v128.store(re + p0 + 2 * qo, f64x2.sub(ar, cr));
        v128.store(im + p0 + 2 * qo, f64x2.sub(ai, ci));
        v128.store(re + p0 + 3 * qo, f64x2.add(br, di));
        v128.store(im + p0 + 3 * qo, f64x2.sub(bi, dr));
      }
    }
  }
}

/** DIT radix-2 stage (half = n/2), conjugate twiddles; `head`: lower half only. */
function dit2(re: usize, im: usize, n: i32, plan: usize, head: bool): void {
  const half = n >> 1;
  const twRe = plan + off(half);
  const twIm = plan + off(n) + off(half);
  const ho = off(half);
  for (let j = 0; j < half; j += 2) {
    const o = off(j);
    const wr = v128.load(twRe + o);
    const wi = f64x2.neg(v128.load(twIm + o));
    const xr = v128.load(re + ho + o);
    const xi = v128.load(im + ho + o);
    const br = cmr(xr, xi, wr, wi);
    const bi = cmi(xr, xi, wr, wi);
    const ar = v128.load(re + o);
    const ai = v128.load(im + o);
    v128.store(re + o, f64x2.add(ar, br));
    v128.store(im + o, f64x2.add(ai, bi));
    if (!head) {
      v128.store(re + ho + o, f64x2.sub(ar, br));
      v128.store(im + ho + o, f64x2.sub(ai, bi));
    }
  }
}

/** Inverse DIT from bit-reversed order, unscaled; `head`: only outputs below n/2 are valid. */
function inverse(re: usize, im: usize, n: i32, plan: usize, head: bool): void {
  dit4q1(re, im, n);
  if (isOdd(n)) {
    const span = n >> 1;
    for (let q = 4; 4 * q <= span; q <<= 2) dit4(re, im, n, q, plan, false);
    dit2(re, im, n, plan, head);
  } else {
    let q = 4;
    for (; 4 * q < n; q <<= 2) dit4(re, im, n, q, plan, false);
    dit4(re, im, n, q, plan, head);
  }
}

// ---------------------------------------------------------------- exported entry points

/** Kernel spectrum, in place: forward FFT of (kRe, kIm) scaled by 1/n; `len` > 0: zero from len on. */
function kernelSpectrum(kRe: usize, kIm: usize, n: i32, len: i32, plan: usize): void {
  if (len > 0) forwardPadded(kRe, kIm, n, len, plan);
  else forwardFull(kRe, kIm, n, plan);
  const s = f64x2.splat(1.0 / <f64>n);
  for (let f = 0; f < n; f += 2) {
    const o = off(f);
    v128.store(kRe + o, f64x2.mul(v128.load(kRe + o), s));
    v128.store(kIm + o, f64x2.mul(v128.load(kIm + o), s));
  }
}

/**
 * Forward of one channel: B rows of L (f64, contiguous) in `rows`, two rows per complex FFT; writes
 * the conv part of y (without D·u) to `yRows` and each pair's spectrum to sRe/sIm[pair·n] (f32 when
 * `f32`, else f64). work: 2n f64 (re then im).
 */
function forwardChannel(
  rows: usize, yRows: usize, B: i32, L: i32, n: i32, plan: usize, work: usize,
  kRe: usize, kIm: usize, sRe: usize, sIm: usize, f32: bool,
): void {
  const re = work;
  const im = work + off(n);
  const rowBytes = off(L);
  const pairs = (B + 1) >> 1;
  for (let q = 0; q < pairs; q++) {
    const src = rows + 2 * <usize>q * rowBytes;
    const dst = yRows + 2 * <usize>q * rowBytes;
    const second = 2 * q + 1 < B;
    memory.copy(re, src, rowBytes);
    if (second) memory.copy(im, src + rowBytes, rowBytes);
    else memory.fill(im, 0, rowBytes);
    forwardPadded(re, im, n, L, plan);
    // Save the spectrum, then multiply by K.
    for (let f = 0; f < n; f += 2) {
      const o = off(f);
      const ar = v128.load(re + o);
      const ai = v128.load(im + o);
      if (f32) {
        const so = (<usize>(q * n + f)) << 2;
        v128.store64_lane(sRe + so, f32x4.demote_f64x2_zero(ar), 0);
        v128.store64_lane(sIm + so, f32x4.demote_f64x2_zero(ai), 0);
      } else {
        const so = off(q * n + f);
        v128.store(sRe + so, ar);
        v128.store(sIm + so, ai);
      }
      const br = v128.load(kRe + o);
      const bi = v128.load(kIm + o);
      v128.store(re + o, cmr(ar, ai, br, bi));
      v128.store(im + o, cmi(ar, ai, br, bi));
    }
    inverse(re, im, n, plan, true);
    memory.copy(dst, re, rowBytes);
    if (second) memory.copy(dst + rowBytes, im, rowBytes);
  }
}

/**
 * Backward of one channel: dy rows in `dyRows`; writes the conv part of du (without D·dy) to `duRows`
 * and accumulates Σ_pairs DY·conj(U) into accRe/accIm (n f64 each, zeroed here).
 */
function backwardChannel(
  dyRows: usize, duRows: usize, B: i32, L: i32, n: i32, plan: usize, work: usize,
  kRe: usize, kIm: usize, sRe: usize, sIm: usize, f32: bool, accRe: usize, accIm: usize,
): void {
  const re = work;
  const im = work + off(n);
  const rowBytes = off(L);
  const pairs = (B + 1) >> 1;
  memory.fill(accRe, 0, off(n));
  memory.fill(accIm, 0, off(n));
  for (let q = 0; q < pairs; q++) {
    const src = dyRows + 2 * <usize>q * rowBytes;
    const dst = duRows + 2 * <usize>q * rowBytes;
    const second = 2 * q + 1 < B;
    memory.copy(re, src, rowBytes);
    if (second) memory.copy(im, src + rowBytes, rowBytes);
    else memory.fill(im, 0, rowBytes);
    forwardPadded(re, im, n, L, plan);
    for (let f = 0; f < n; f += 2) {
      const o = off(f);
      const ar = v128.load(re + o);
      const ai = v128.load(im + o);
      let ur: v128, ui: v128;
      if (f32) {
        const so = (<usize>(q * n + f)) << 2;
        ur = f64x2.promote_low_f32x4(v128.load64_zero(sRe + so));
        ui = f64x2.promote_low_f32x4(v128.load64_zero(sIm + so));
      } else {
        const so = off(q * n + f);
        ur = v128.load(sRe + so);
        ui = v128.load(sIm + so);
      }
      // acc += DY·conj(U)
      v128.store(accRe + o, f64x2.add(v128.load(accRe + o), f64x2.add(f64x2.mul(ar, ur), f64x2.mul(ai, ui))));
      v128.store(accIm + o, f64x2.add(v128.load(accIm + o), f64x2.sub(f64x2.mul(ai, ur), f64x2.mul(ar, ui))));
      // DU = DY·conj(K)
      const br = v128.load(kRe + o);
      const bi = v128.load(kIm + o);
      v128.store(re + o, f64x2.add(f64x2.mul(ar, br), f64x2.mul(ai, bi)));
      v128.store(im + o, f64x2.sub(f64x2.mul(ai, br), f64x2.mul(ar, bi)));
    }
    inverse(re, im, n, plan, true);
    memory.copy(dst, re, rowBytes);
    if (second) memory.copy(dst + rowBytes, im, rowBytes);
  }
}

/**
 * Forward of active rows r0 ≤ r < r1 (of A): builds each channel's circular kernel k' from kRows
 * (f64 [dirs·A, L]: forward rows, then backward rows at lags −1, −2, …) into kSpec (re block [A, n],
 * then im block), takes its spectrum (÷ n), and runs forwardChannel with the pair spectra saved at
 * spec (re block [A, pairs, n], then im block; f32 or f64). work: 2n f64 of this thread's own.
 */
export function forwardRange(
  r0: i32, r1: i32, A: i32, dirs: i32, kRows: usize, kSpec: usize, rows: usize, out: usize, spec: usize,
  B: i32, L: i32, n: i32, plan: usize, work: usize, f32: bool,
): void {
  const pairs = (B + 1) >> 1;
  const specBytes: usize = f32 ? 4 : 8;
  const specBlock = <usize>A * <usize>pairs * <usize>n * specBytes;
  const kBlock = off(A * n);
  const rowBytes = off(B * L);
  for (let r = r0; r < r1; r++) {
    const kRe = kSpec + off(r * n);
    const kIm = kRe + kBlock;
    memory.fill(kRe, 0, off(n));
    memory.fill(kIm, 0, off(n));
    memory.copy(kRe, kRows + off(r * L), off(L));
    if (dirs === 2) {
      const back = kRows + off((A + r) * L);
      for (let l = 0; l < L; l++) store<f64>(kRe + off(n - 1 - l), load<f64>(back + off(l)));
    }
    kernelSpectrum(kRe, kIm, n, dirs === 1 ? L : 0, plan);
    const sRe = spec + <usize>r * <usize>pairs * <usize>n * specBytes;
    forwardChannel(rows + <usize>r * rowBytes, out + <usize>r * rowBytes, B, L, n, plan, work, kRe, kIm, sRe, sRe + specBlock, f32);
  }
}

/**
 * Backward of active rows r0 ≤ r < r1: dy rows in `rows`, du rows (without D·dy) to `out`, and
 * dk rows (f64 [dirs·A, L], the ÷ n applied) from the inverse of Σ_pairs DY·conj(U). acc: 2n f64 and
 * work: 2n f64 of this thread's own.
 */
export function backwardRange(
  r0: i32, r1: i32, A: i32, dirs: i32, kSpec: usize, rows: usize, out: usize, spec: usize,
  B: i32, L: i32, n: i32, plan: usize, work: usize, f32: bool, acc: usize, dk: usize,
): void {
  const pairs = (B + 1) >> 1;
  const specBytes: usize = f32 ? 4 : 8;
  const specBlock = <usize>A * <usize>pairs * <usize>n * specBytes;
  const kBlock = off(A * n);
  const rowBytes = off(B * L);
  const accIm = acc + off(n);
  const invN = 1.0 / <f64>n;
  for (let r = r0; r < r1; r++) {
    const kRe = kSpec + off(r * n);
    const sRe = spec + <usize>r * <usize>pairs * <usize>n * specBytes;
    backwardChannel(
      rows + <usize>r * rowBytes, out + <usize>r * rowBytes, B, L, n, plan, work, kRe, kRe + kBlock, sRe, sRe + specBlock, f32,
      acc, accIm,
    );
    inverse(acc, accIm, n, plan, dirs === 1);
    const fwd = dk + off(r * L);
    for (let l = 0; l < L; l++) store<f64>(fwd + off(l), load<f64>(acc + off(l)) * invN);
    if (dirs === 2) {
      const back = dk + off((A + r) * L);
      for (let l = 0; l < L; l++) store<f64>(back + off(l), load<f64>(acc + off(n - 1 - l)) * invN);
    }
  }
}

// ---------------------------------------------------------------- layout changes (float32 tensors)

const TILE: i32 = 32;

/**
 * rows[(r·B + b)·L + t] = x[(b·L + t)·H + active[r]] (x f32 channels-last, rows f64) for b0 ≤ b < b1, in
 * tiles of TILE time steps so the x rows being read stay in cache. With dd ≠ 0 also dd[r] += Σ x·u (u f32,
 * same layout).
 */
export function gatherRows(
  x: usize, rows: usize, active: usize, A: i32, B: i32, L: i32, H: i32, u: usize, dd: usize, b0: i32, b1: i32,
): void {
  const dot = dd !== 0;
  for (let b = b0; b < b1; b++) {
    for (let t0 = 0; t0 < L; t0 += TILE) {
      const t1 = min(L, t0 + TILE);
      for (let r = 0; r < A; r++) {
        const h = load<i32>(active + ((<usize>r) << 2));
        let src = (<usize>((b * L + t0) * H + h)) << 2;
        const step = (<usize>H) << 2;
        let dst = rows + off((r * B + b) * L + t0);
        let acc: f64 = 0;
        for (let t = t0; t < t1; t++) {
          const v = <f64>load<f32>(x + src);
          store<f64>(dst, v);
          if (dot) acc += v * <f64>load<f32>(u + src);
          src += step;
          dst += 8;
        }
        if (dot) store<f64>(dd + off(r), load<f64>(dd + off(r)) + acc);
      }
    }
  }
}

/** out[(b·L + t)·H + h] = rows[(r·B + b)·L + t] + d[r]·x[(b·L + t)·H + h] for h = active[r], b0 ≤ b < b1 (out, x f32; d f64 per row). */
export function scatterRows(
  rows: usize, x: usize, d: usize, out: usize, active: usize, A: i32, B: i32, L: i32, H: i32, b0: i32, b1: i32,
): void {
  for (let b = b0; b < b1; b++) {
    for (let t0 = 0; t0 < L; t0 += TILE) {
      const t1 = min(L, t0 + TILE);
      for (let r = 0; r < A; r++) {
        const h = load<i32>(active + ((<usize>r) << 2));
        const dh = load<f64>(d + off(r));
        let idx = (<usize>((b * L + t0) * H + h)) << 2;
        const step = (<usize>H) << 2;
        let src = rows + off((r * B + b) * L + t0);
        for (let t = t0; t < t1; t++) {
          store<f32>(out + idx, <f32>(load<f64>(src) + dh * <f64>load<f32>(x + idx)));
          idx += step;
          src += 8;
        }
      }
    }
  }
}
