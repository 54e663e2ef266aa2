/**
 * Long convolution of an SSM layer through power-of-two FFTs, per active channel.
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
 * transposed in tiles to [active, B, L] rows once per call, so the FFT loops read and write contiguously.
 *
 * Two engines do the per-channel work: wasm (SIMD, threads, host/assembly/ssm-core.ts; the default; single
 * precision when tensors and kept spectra are float32, else double) and js (float64, portable, and the
 * reference the wasm engine is tested against).
 */
import { jsEngine } from './engine-js.js';
import type { ConvDims, ConvEngine, ConvSaved, Spectra } from './engine.js';
import { wasmAvailable, wasmEngine, wasmFits } from './engine-wasm.js';
import { nextPow2 } from '../fft.js';
import { checkActive, type Real } from '../channels.js';

export type { ConvDims, ConvSaved } from './engine.js';

export interface ConvOptions {
  bidirectional?: boolean;
  /**
   * Precision of the input spectra kept for the backward pass (float32 halves the memory; with float32
   * tensors it also lets the wasm engine compute in single precision).
   */
  saveSpectra?: 'float64' | 'float32';
  /** 'wasm' (default where available, FFT size ≥ 16) or the portable 'js'. */
  engine?: 'wasm' | 'js';
  /** Keep what the backward pass needs (default true); false for inference: no spectra are kept. */
  save?: boolean;
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
  for (const [name, v] of [
    ['batch B', B],
    ['length L', L],
    ['channels H', H],
  ] as const) {
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
 * Reuse of the large saved-spectra buffers: fresh ones cost a page fault per 4 KiB on first write.
 * The tfjs op returns them after its backward pass; a forward pass whose backward never runs (no
 * gradient recorded) simply leaves its buffers to the garbage collector.
 */
const POOL_LIMIT_BYTES = 256 * 2 ** 20;
const pool: Spectra[] = [];
let pooledBytes = 0;

function takeBuffer(kind: typeof Float64Array | typeof Float32Array, length: number): Spectra {
  const i = pool.findIndex((b) => b.length === length && b instanceof kind);
  if (i < 0) return new kind(length);
  const b = pool.splice(i, 1)[0]!;
  pooledBytes -= b.byteLength;
  return b;
}

/** Hands the saved buffers back for reuse; `saved` cannot be used for a backward pass afterwards. */
export function releaseConvSaved(saved: ConvSaved): void {
  if (saved.released) return;
  saved.released = true;
  for (const b of [saved.kRe, saved.kIm, saved.uRe, saved.uIm]) {
    if (b.length === 0 || pooledBytes + b.byteLength > POOL_LIMIT_BYTES) continue;
    pool.push(b);
    pooledBytes += b.byteLength;
  }
}

function chooseEngine(
  shape: Pick<ConvSaved, 'n' | 'dims' | 'active' | 'dirs'>,
  f32Spectra: boolean,
  want?: 'wasm' | 'js',
): ConvEngine {
  if (want === 'js') return jsEngine;
  if (wasmAvailable(shape.n) && wasmFits(shape, f32Spectra)) return wasmEngine;
  if (want === 'wasm' && shape.n >= 16)
    throw new Error('ssmConv: the wasm engine is unavailable for this call (no WebAssembly SIMD, or over 2 GiB)');
  return jsEngine;
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
  if (out.length !== u.length) throw new Error(`ssmConv: output has ${out.length} values, expected ${u.length}`);
  const A = active.length;
  const n = convSize(dims.L);
  const pairs = (dims.B + 1) >> 1;
  const Spectra = opts.saveSpectra === 'float32' ? Float32Array : Float64Array;
  const keep = opts.save !== false;
  const saved: ConvSaved = {
    dims: { ...dims },
    active: active.slice(),
    dirs,
    n,
    u,
    d,
    engine: chooseEngine({ n, dims, active, dirs }, opts.saveSpectra === 'float32', opts.engine),
    released: !keep,
    // Every element is overwritten by the engine, so recycled buffers need no clearing.
    kRe: takeBuffer(Float64Array, keep ? A * n : 0) as Float64Array,
    kIm: takeBuffer(Float64Array, keep ? A * n : 0) as Float64Array,
    uRe: takeBuffer(Spectra, keep ? A * pairs * n : 0),
    uIm: takeBuffer(Spectra, keep ? A * pairs * n : 0),
  };
  saved.engine.forward(saved, k, out);
  convWork.forwardChannels += A;
  convWork.ffts += A * (1 + 2 * pairs);
  return saved;
}

/** Backward pass: gradients w.r.t. u (written into `duOut`, [B, L, H]), k ([dirs·A, L]) and d ([H]). */
export function ssmConvBackward(saved: ConvSaved, dy: Real, duOut: Real): ConvGrads {
  const { dims, active, dirs } = saved;
  const { B, L, H } = dims;
  if (saved.released) {
    throw new Error(
      'ssmConv backward: no saved forward state (forward ran with save: false, or it was released after a backward pass)',
    );
  }
  if (dy.length !== B * L * H) throw new Error(`ssmConv backward: dy has ${dy.length} values, expected ${B * L * H}`);
  if (duOut.length !== dy.length)
    throw new Error(`ssmConv backward: du has ${duOut.length} values, expected ${dy.length}`);
  const A = active.length;
  const dk = new Float64Array(dirs * A * L);
  const dd = new Float64Array(H);
  saved.engine.backward(saved, dy, duOut, dk, dd);
  convWork.backwardChannels += A;
  convWork.ffts += A * (2 * ((B + 1) >> 1) + 1);
  return { du: duOut, dk, dd };
}
