/**
 * Long convolution of an SSM layer through power-of-two FFTs, per active channel, in float64.
 *
 *   y[b, t, h] = Σ_{l ≤ t} k_f[l]·u[b, t−l, h]  (+ Σ_l k_b[l]·u[b, t+1+l, h] when bidirectional)  + d[h]·u[b, t, h]
 *
 * The backward kernel acts at lags −1, −2, …, as in the state-spaces FFTConv (its deliberate off-by-one:
 * k_b is flipped and padded in front of a length-2L circular kernel). Bypassed channels: y = u.
 *
 * How: FFT size n = nextPow2(2L) makes circular convolution equal the linear one on t < L. One circular
 * kernel per channel k'[l] = k_f[l], k'[n−1−l] = k_b[l]. Two batch rows of the same channel ride in one
 * complex FFT (z = u₁ + i·u₂): k' is real, so IFFT(Z·K') = y₁ + i·y₂ with no unpacking. Spectra stay in
 * bit-reversed order (DIF forward, DIT inverse); pointwise products do not care.
 *
 * Backward (ℒ scalar, dy = ∂ℒ/∂y zero-padded to n):
 *   du = correlation of dy with k'  →  DU = DY·conj(K')   (packed pairs again: du₁ + i·du₂)
 *   dk' = Σ_b correlation of dy_b with u_b  →  DK' = Σ_b DY_b·conj(U_b); for a packed pair
 *         Zdy·conj(Zu) = DY₁conj(U₁) + DY₂conj(U₂) + i·(DY₂conj(U₁) − DY₁conj(U₂)); the second term's
 *         inverse is purely imaginary, so dk' = Re IFFT(Σ_pairs Zdy·conj(Zu)); dk_f[l] = dk'[l], dk_b[l] = dk'[n−1−l]
 *   du += d·dy,  dd[h] = Σ_{b,t} dy·u;   bypassed channels: du = dy, dd = 0.
 * FFT(u) of every pair is kept from the forward pass for dk'.
 */
import { fftFor, nextPow2, type FFT } from './fft.js';
import { checkActive, type Real } from './s4d.js';

export interface ConvDims {
  B: number;
  L: number;
  H: number;
}

export interface ConvOptions {
  bidirectional?: boolean;
}

/** What the forward pass keeps for the backward pass. */
export interface ConvSaved {
  dims: ConvDims;
  active: Int32Array;
  dirs: 1 | 2;
  n: number;
  u: Real;
  d: Real;
  /** Spectrum of each channel's circular kernel k' (bit-reversed order), [A, n]. */
  kRe: Float64Array;
  kIm: Float64Array;
  /** Spectrum of each packed pair of input rows (bit-reversed order), [A, pairs, n]. */
  uRe: Float64Array;
  uIm: Float64Array;
}

export interface ConvGrads {
  du: Real;
  /** [dirs·A, L], same layout as k. */
  dk: Float64Array;
  dd: Float64Array;
}

/** Work counters, so tests can prove that bypassed channels cost nothing. */
export const convWork = { forwardChannels: 0, backwardChannels: 0, ffts: 0 };

/** FFT size used for sequences of length L. */
export function convSize(L: number): number {
  return nextPow2(2 * L);
}

export function checkConvArgs(u: Real, k: Real, d: Real, active: Int32Array, dims: ConvDims, dirs: number): void {
  const { B, L, H } = dims;
  for (const [name, v] of [['batch B', B], ['length L', L], ['channels H', H]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`ssmConv: ${name} must be a positive integer, got ${v}`);
  }
  if (u.length !== B * L * H) throw new Error(`ssmConv: u has ${u.length} values, expected B·L·H = ${B * L * H}`);
  checkActive(active, H);
  const A = active.length;
  if (k.length !== dirs * A * L) {
    throw new Error(
      `ssmConv: kernel has ${k.length / L} rows of length L = ${L} (${k.length} values), expected ${dirs}·${A} ` +
        `(${dirs === 2 ? 'forward and backward rows for ' : ''}${A} active channels)`,
    );
  }
  if (d.length !== H) throw new Error(`ssmConv: D has ${d.length} values, expected H = ${H}`);
}

/**
 * Forward pass. Writes y into `out` (same layout as u: [B, L, H]); returns what backward needs.
 * `out` may be a Float32Array (tfjs) or Float64Array (references, gradient checks).
 */
export function ssmConvForward(
  u: Real,
  k: Real,
  d: Real,
  active: Int32Array,
  dims: ConvDims,
  out: Real,
  opts: ConvOptions = {},
): ConvSaved {
  const dirs = opts.bidirectional ? 2 : 1;
  checkConvArgs(u, k, d, active, dims, dirs);
  const { B, L, H } = dims;
  if (out.length !== u.length) throw new Error(`ssmConv: output has ${out.length} values, expected ${u.length}`);
  const A = active.length;
  const n = convSize(L);
  const fft = fftFor(n);
  const pairs = (B + 1) >> 1;
  // Bypassed channels (and the D·u term's base) start as a copy of u.
  out.set(u);
  const saved: ConvSaved = {
    dims: { ...dims },
    active: active.slice(),
    dirs,
    n,
    u,
    d,
    kRe: new Float64Array(A * n),
    kIm: new Float64Array(A * n),
    uRe: new Float64Array(A * pairs * n),
    uIm: new Float64Array(A * pairs * n),
  };
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let r = 0; r < A; r++) {
    const h = active[r]!;
    convWork.forwardChannels++;
    const kRe = saved.kRe.subarray(r * n, (r + 1) * n);
    const kIm = saved.kIm.subarray(r * n, (r + 1) * n);
    circularKernel(k, r, A, L, dirs, kRe, kIm);
    fft.forwardScrambled(kRe, kIm);
    convWork.ffts++;
    const dh = d[h]!;
    for (let q = 0; q < pairs; q++) {
      const b0 = 2 * q;
      const b1 = b0 + 1 < B ? b0 + 1 : -1;
      gatherPair(u, b0, b1, L, H, h, n, re, im);
      fft.forwardScrambled(re, im);
      const off = (r * pairs + q) * n;
      saved.uRe.set(re, off);
      saved.uIm.set(im, off);
      mulSpectra(re, im, kRe, kIm, n, false);
      fft.inverseScrambled(re, im);
      convWork.ffts += 2;
      scatterPair(out, u, dh, b0, b1, L, H, h, re, im);
    }
  }
  return saved;
}

/** Backward pass: gradients w.r.t. u (written into `duOut`, [B, L, H]), k ([dirs·A, L]) and d ([H]). */
export function ssmConvBackward(saved: ConvSaved, dy: Real, duOut: Real): ConvGrads {
  const { dims, active, dirs, n, u, d } = saved;
  const { B, L, H } = dims;
  if (dy.length !== B * L * H) throw new Error(`ssmConv backward: dy has ${dy.length} values, expected ${B * L * H}`);
  if (duOut.length !== dy.length) throw new Error(`ssmConv backward: du has ${duOut.length} values, expected ${dy.length}`);
  const A = active.length;
  const fft: FFT = fftFor(n);
  const pairs = (B + 1) >> 1;
  duOut.set(dy);
  const dk = new Float64Array(dirs * A * L);
  const dd = new Float64Array(H);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const accRe = new Float64Array(n);
  const accIm = new Float64Array(n);
  for (let r = 0; r < A; r++) {
    const h = active[r]!;
    convWork.backwardChannels++;
    const kRe = saved.kRe.subarray(r * n, (r + 1) * n);
    const kIm = saved.kIm.subarray(r * n, (r + 1) * n);
    const dh = d[h]!;
    accRe.fill(0);
    accIm.fill(0);
    let ddh = 0;
    for (let q = 0; q < pairs; q++) {
      const b0 = 2 * q;
      const b1 = b0 + 1 < B ? b0 + 1 : -1;
      ddh += gatherPairDot(dy, u, b0, b1, L, H, h, n, re, im);
      fft.forwardScrambled(re, im);
      // dk' accumulates Zdy·conj(Zu).
      const off = (r * pairs + q) * n;
      const uRe = saved.uRe;
      const uIm = saved.uIm;
      for (let f = 0; f < n; f++) {
        const ar = re[f]!;
        const ai = im[f]!;
        const br = uRe[off + f]!;
        const bi = uIm[off + f]!;
        accRe[f]! += ar * br + ai * bi;
        accIm[f]! += ai * br - ar * bi;
      }
      mulSpectra(re, im, kRe, kIm, n, true);
      fft.inverseScrambled(re, im);
      convWork.ffts += 2;
      scatterPair(duOut, dy, dh, b0, b1, L, H, h, re, im);
    }
    dd[h] = ddh;
    fft.inverseScrambled(accRe, accIm);
    convWork.ffts++;
    const fRow = r * L;
    for (let l = 0; l < L; l++) dk[fRow + l] = accRe[l]!;
    if (dirs === 2) {
      const bRow = (A + r) * L;
      for (let l = 0; l < L; l++) dk[bRow + l] = accRe[n - 1 - l]!;
    }
  }
  return { du: duOut, dk, dd };
}

/** k' for active row r: k_f at lags 0..L−1, k_b (bidirectional) at positions n−1−l; imaginary part 0. */
function circularKernel(k: Real, r: number, A: number, L: number, dirs: number, re: Float64Array, im: Float64Array): void {
  const n = re.length;
  re.fill(0);
  im.fill(0);
  const fRow = r * L;
  for (let l = 0; l < L; l++) re[l] = k[fRow + l]!;
  if (dirs === 2) {
    const bRow = (A + r) * L;
    for (let l = 0; l < L; l++) re[n - 1 - l] = k[bRow + l]!;
  }
}

/** re ← x[b0, :, h], im ← x[b1, :, h] (0 when b1 < 0), zero-padded to n. */
function gatherPair(x: Real, b0: number, b1: number, L: number, H: number, h: number, n: number, re: Float64Array, im: Float64Array): void {
  let idx = b0 * L * H + h;
  for (let t = 0; t < L; t++, idx += H) re[t] = x[idx]!;
  if (b1 >= 0) {
    idx = b1 * L * H + h;
    for (let t = 0; t < L; t++, idx += H) im[t] = x[idx]!;
  } else {
    im.fill(0, 0, L);
  }
  re.fill(0, L, n);
  im.fill(0, L, n);
}

/** gatherPair of dy, also returning Σ_t dy·u over the pair's rows (for dd). */
function gatherPairDot(
  dy: Real, u: Real, b0: number, b1: number, L: number, H: number, h: number, n: number,
  re: Float64Array, im: Float64Array,
): number {
  let dot = 0;
  let idx = b0 * L * H + h;
  for (let t = 0; t < L; t++, idx += H) {
    const g = dy[idx]!;
    re[t] = g;
    dot += g * u[idx]!;
  }
  if (b1 >= 0) {
    idx = b1 * L * H + h;
    for (let t = 0; t < L; t++, idx += H) {
      const g = dy[idx]!;
      im[t] = g;
      dot += g * u[idx]!;
    }
  } else {
    im.fill(0, 0, L);
  }
  re.fill(0, L, n);
  im.fill(0, L, n);
  return dot;
}

/** out[b, t, h] = re[t] + d·x[b0, t, h] (and im for b1), for t < L. */
function scatterPair(
  out: Real, x: Real, d: number, b0: number, b1: number, L: number, H: number, h: number,
  re: Float64Array, im: Float64Array,
): void {
  let idx = b0 * L * H + h;
  for (let t = 0; t < L; t++, idx += H) out[idx] = re[t]! + d * x[idx]!;
  if (b1 >= 0) {
    idx = b1 * L * H + h;
    for (let t = 0; t < L; t++, idx += H) out[idx] = im[t]! + d * x[idx]!;
  }
}

/** (re, im) ← (re, im)·K, or ·conj(K) when `conj`. */
function mulSpectra(re: Float64Array, im: Float64Array, kRe: Float64Array, kIm: Float64Array, n: number, conj: boolean): void {
  const s = conj ? -1 : 1;
  for (let f = 0; f < n; f++) {
    const ar = re[f]!;
    const ai = im[f]!;
    const br = kRe[f]!;
    const bi = s * kIm[f]!;
    re[f] = ar * br - ai * bi;
    im[f] = ar * bi + ai * br;
  }
}
