/** Types shared by the convolution API (conv.ts) and its engines (engine-js.ts, engine-wasm.ts). */
import type { Real } from '../channels.js';

export interface ConvDims {
  B: number;
  L: number;
  H: number;
}

export type Spectra = Float64Array | Float32Array;

/** What the forward pass keeps for the backward pass. */
export interface ConvSaved {
  dims: ConvDims;
  active: Int32Array;
  dirs: 1 | 2;
  /** FFT size. */
  n: number;
  u: Real;
  d: Real;
  engine: ConvEngine;
  /** Nothing kept for a backward pass (forward with save: false, or buffers handed back by releaseConvSaved). */
  released: boolean;
  /** Spectrum of each channel's circular kernel k', times 1/n (bit-reversed order), [A, n]; empty when not kept. */
  kRe: Float64Array;
  kIm: Float64Array;
  /** Spectrum of each packed pair of input rows (bit-reversed order), [A, pairs, n]; empty when not kept. */
  uRe: Spectra;
  uIm: Spectra;
}

/** One implementation of the per-channel work (arguments already validated by conv.ts). */
export interface ConvEngine {
  name: 'js' | 'wasm';
  /** Writes y = conv + D·u (bypassed channels: u) into `out`; fills saved.kRe/kIm and saved.uRe/uIm unless empty. */
  forward(saved: ConvSaved, k: Real, out: Real): void;
  /** Writes du into `duOut` (bypassed channels: dy), dk [dirs·A, L] and dd [H] (zeroed by the caller). */
  backward(saved: ConvSaved, dy: Real, duOut: Real, dk: Float64Array, dd: Float64Array): void;
}

/** k' for active row r: k_f at lags 0..L−1, k_b (bidirectional) at positions n−1−l; imaginary part 0. */
export function circularKernel(
  k: Real,
  r: number,
  A: number,
  L: number,
  dirs: number,
  re: Float64Array,
  im: Float64Array,
): void {
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
