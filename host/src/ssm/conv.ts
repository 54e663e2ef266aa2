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
 * FFT(u) of every pair is kept from the forward pass for dk'. The kernel spectrum is stored scaled by 1/n,
 * so the inverse FFTs run unscaled and only their first n/2 outputs are computed. Channels-last tensors are
 * transposed blockwise to [active, B, L] once per call, so the FFT loops read and write contiguously.
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
  /** Precision of the input spectra kept for the backward pass (float32 halves the memory). */
  saveSpectra?: 'float64' | 'float32';
}

type Spectra = Float64Array | Float32Array;

/** What the forward pass keeps for the backward pass. */
export interface ConvSaved {
  dims: ConvDims;
  active: Int32Array;
  dirs: 1 | 2;
  n: number;
  u: Real;
  d: Real;
  /** Spectrum of each channel's circular kernel k', times 1/n (bit-reversed order), [A, n]. */
  kRe: Float64Array;
  kIm: Float64Array;
  /** Spectrum of each packed pair of input rows (bit-reversed order), [A, pairs, n]. */
  uRe: Spectra;
  uIm: Spectra;
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

/** Grow-only scratch buffers, reused across calls (JS runs one call at a time). */
const scratch: { a: Float64Array; b: Float64Array } = { a: new Float64Array(0), b: new Float64Array(0) };
function scratchBuffers(size: number): [Float64Array, Float64Array] {
  if (scratch.a.length < size) {
    scratch.a = new Float64Array(size);
    scratch.b = new Float64Array(size);
  }
  return [scratch.a.subarray(0, size), scratch.b.subarray(0, size)];
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
  const { B, L } = dims;
  if (out.length !== u.length) throw new Error(`ssmConv: output has ${out.length} values, expected ${u.length}`);
  const A = active.length;
  const n = convSize(L);
  const fft = fftFor(n);
  const pairs = (B + 1) >> 1;
  const Spectra = opts.saveSpectra === 'float32' ? Float32Array : Float64Array;
  const saved: ConvSaved = {
    dims: { ...dims },
    active: active.slice(),
    dirs,
    n,
    u,
    d,
    kRe: new Float64Array(A * n),
    kIm: new Float64Array(A * n),
    uRe: new Spectra(A * pairs * n),
    uIm: new Spectra(A * pairs * n),
  };
  const [ut, yt] = scratchBuffers(A * B * L);
  toChannelRows(u, ut, active, dims);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const invN = 1 / n;
  for (let r = 0; r < A; r++) {
    convWork.forwardChannels++;
    const kRe = saved.kRe.subarray(r * n, (r + 1) * n);
    const kIm = saved.kIm.subarray(r * n, (r + 1) * n);
    circularKernel(k, r, A, L, dirs, kRe, kIm);
    if (dirs === 1) fft.forwardScrambledPadded(kRe, kIm, L);
    else fft.forwardScrambled(kRe, kIm);
    for (let f = 0; f < n; f++) {
      kRe[f]! *= invN;
      kIm[f]! *= invN;
    }
    convWork.ffts++;
    for (let q = 0; q < pairs; q++) {
      const row0 = (r * B + 2 * q) * L;
      const hasSecond = 2 * q + 1 < B;
      re.set(ut.subarray(row0, row0 + L));
      if (hasSecond) im.set(ut.subarray(row0 + L, row0 + 2 * L));
      else im.fill(0, 0, L);
      fft.forwardScrambledPadded(re, im, L);
      const off = (r * pairs + q) * n;
      saveAndMultiply(re, im, kRe, kIm, saved.uRe, saved.uIm, off, n);
      fft.inverseScrambledHead(re, im);
      convWork.ffts += 2;
      yt.set(re.subarray(0, L), row0);
      if (hasSecond) yt.set(im.subarray(0, L), row0 + L);
    }
  }
  fromChannelRows(yt, u, d, out, active, dims);
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
  const dk = new Float64Array(dirs * A * L);
  const dd = new Float64Array(H);
  const [dyt, dut] = scratchBuffers(A * B * L);
  toChannelRows(dy, dyt, active, dims, u, dd);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const accRe = new Float64Array(n);
  const accIm = new Float64Array(n);
  const invN = 1 / n;
  for (let r = 0; r < A; r++) {
    convWork.backwardChannels++;
    const kRe = saved.kRe.subarray(r * n, (r + 1) * n);
    const kIm = saved.kIm.subarray(r * n, (r + 1) * n);
    accRe.fill(0);
    accIm.fill(0);
    for (let q = 0; q < pairs; q++) {
      const row0 = (r * B + 2 * q) * L;
      const hasSecond = 2 * q + 1 < B;
      re.set(dyt.subarray(row0, row0 + L));
      if (hasSecond) im.set(dyt.subarray(row0 + L, row0 + 2 * L));
      else im.fill(0, 0, L);
      fft.forwardScrambledPadded(re, im, L);
      accumulateAndMultiply(re, im, saved.uRe, saved.uIm, (r * pairs + q) * n, accRe, accIm, kRe, kIm, n);
      fft.inverseScrambledHead(re, im);
      convWork.ffts += 2;
      dut.set(re.subarray(0, L), row0);
      if (hasSecond) dut.set(im.subarray(0, L), row0 + L);
    }
    const fRow = r * L;
    if (dirs === 1) {
      fft.inverseScrambledHead(accRe, accIm);
      for (let l = 0; l < L; l++) dk[fRow + l] = accRe[l]! * invN;
    } else {
      fft.inverseScrambled(accRe, accIm);
      const bRow = (A + r) * L;
      for (let l = 0; l < L; l++) {
        dk[fRow + l] = accRe[l]!;
        dk[bRow + l] = accRe[n - 1 - l]!;
      }
    }
    convWork.ffts++;
  }
  fromChannelRows(dut, dy, d, duOut, active, dims);
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

const TILE = 32;

/**
 * rows[(r·B + b)·L + t] = x[b, t, active[r]]: channels-last to one contiguous row per (channel, batch),
 * in tiles of TILE time steps so the rows of x being read stay in cache. With `u` and `dd`, also
 * accumulates dd[h] += Σ x·u (the D gradient) on the way.
 */
function toChannelRows(x: Real, rows: Float64Array, active: Int32Array, dims: ConvDims, u?: Real, dd?: Float64Array): void {
  const { B, L, H } = dims;
  const A = active.length;
  for (let b = 0; b < B; b++) {
    for (let t0 = 0; t0 < L; t0 += TILE) {
      const t1 = Math.min(L, t0 + TILE);
      for (let r = 0; r < A; r++) {
        const h = active[r]!;
        let idx = (b * L + t0) * H + h;
        let dst = (r * B + b) * L + t0;
        if (u && dd) {
          let dot = 0;
          for (let t = t0; t < t1; t++, idx += H, dst++) {
            const v = x[idx]!;
            rows[dst] = v;
            dot += v * u[idx]!;
          }
          dd[h]! += dot;
        } else {
          for (let t = t0; t < t1; t++, idx += H, dst++) rows[dst] = x[idx]!;
        }
      }
    }
  }
}

/** out[b, t, h] = rows[(r·B + b)·L + t] + d[h]·x[b, t, h] for active h (r its row); out = x for bypassed h. */
function fromChannelRows(rows: Float64Array, x: Real, d: Real, out: Real, active: Int32Array, dims: ConvDims): void {
  const { B, L, H } = dims;
  const A = active.length;
  if (A < H) out.set(x);
  for (let b = 0; b < B; b++) {
    for (let t0 = 0; t0 < L; t0 += TILE) {
      const t1 = Math.min(L, t0 + TILE);
      for (let r = 0; r < A; r++) {
        const h = active[r]!;
        const dh = d[h]!;
        let idx = (b * L + t0) * H + h;
        let src = (r * B + b) * L + t0;
        for (let t = t0; t < t1; t++, idx += H, src++) out[idx] = rows[src]! + dh * x[idx]!;
      }
    }
  }
}

/** Saves the spectrum (re, im) at `off`, then (re, im) ← (re, im)·K. */
function saveAndMultiply(
  re: Float64Array, im: Float64Array, kRe: Float64Array, kIm: Float64Array,
  sRe: Spectra, sIm: Spectra, off: number, n: number,
): void {
  for (let f = 0; f < n; f++) {
    const ar = re[f]!;
    const ai = im[f]!;
    sRe[off + f] = ar;
    sIm[off + f] = ai;
    const br = kRe[f]!;
    const bi = kIm[f]!;
    re[f] = ar * br - ai * bi;
    im[f] = ar * bi + ai * br;
  }
}

/** acc += (re, im)·conj(saved U at off), then (re, im) ← (re, im)·conj(K). */
function accumulateAndMultiply(
  re: Float64Array, im: Float64Array, sRe: Spectra, sIm: Spectra, off: number,
  accRe: Float64Array, accIm: Float64Array, kRe: Float64Array, kIm: Float64Array, n: number,
): void {
  for (let f = 0; f < n; f++) {
    const ar = re[f]!;
    const ai = im[f]!;
    const ur = sRe[off + f]!;
    const ui = sIm[off + f]!;
    accRe[f]! += ar * ur + ai * ui;
    accIm[f]! += ai * ur - ar * ui;
    const br = kRe[f]!;
    const bi = kIm[f]!;
    re[f] = ar * br + ai * bi;
    im[f] = ai * br - ar * bi;
  }
}
