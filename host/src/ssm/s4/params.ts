/**
 * S4 (DPLR) parameters: the tfjs form the model trains, the typed-array form the float64 code reads, and
 * one channel (operator) of it.
 *
 * Each channel h is an independent SSM with M = N/2 complex modes (one of each conjugate pair):
 *   A = Λ − P P*, continuous time, with the conjugate half of Λ, P, B, C implied (see discrete.ts).
 * Re Λ is clamped to ≤ LAMBDA_RE_MAX when read (the S4 code's "clip" choice): this keeps A + A* negative
 * definite, hence the bilinear Ā contractive; the gradient of a clamped entry is zero.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Real } from '../channels.js';

export interface S4Params {
  logDt: tf.Tensor1D; // [H]
  lambdaRe: tf.Tensor2D; // [H, N/2]
  lambdaIm: tf.Tensor2D;
  pRe: tf.Tensor2D; // [H, N/2] low-rank term
  pIm: tf.Tensor2D;
  bRe: tf.Tensor2D; // [H, N/2]
  bIm: tf.Tensor2D;
  cRe: tf.Tensor2D; // [H, N/2]
  cIm: tf.Tensor2D;
}

/** Upper bound applied to Re Λ. */
export const LAMBDA_RE_MAX = -1e-4;

export const S4_MODE_FIELDS = ['lambdaRe', 'lambdaIm', 'pRe', 'pIm', 'bRe', 'bIm', 'cRe', 'cIm'] as const;
export type S4ModeField = (typeof S4_MODE_FIELDS)[number];

/** Row-major [H, M] arrays (logDt [H]). */
export type S4ParamArrays = { H: number; M: number; logDt: Real } & Record<S4ModeField, Real>;

/** One channel in float64 (arrays of length M). */
export type S4Channel = { M: number; logDt: number } & Record<S4ModeField, Float64Array>;

/** Gradient of a loss with respect to one channel's parameters (same layout as S4Channel). */
export type S4ChannelGrad = S4Channel;

export function checkS4Arrays(a: S4ParamArrays): void {
  const { H, M } = a;
  if (!Number.isInteger(H) || H < 1) throw new Error(`S4: d_model H must be a positive integer, got ${H}`);
  if (!Number.isInteger(M) || M < 1) throw new Error(`S4: modes per channel N/2 must be a positive integer, got ${M}`);
  if (a.logDt.length !== H) throw new Error(`S4: logDt has ${a.logDt.length} values, expected H = ${H}`);
  for (const f of S4_MODE_FIELDS) {
    if (a[f].length !== H * M) throw new Error(`S4: ${f} has ${a[f].length} values, expected H·N/2 = ${H}·${M}`);
  }
}

/** Reads the tensors (dataSync) after checking their shapes agree. */
export function s4ParamArrays(p: S4Params): S4ParamArrays {
  if (p.logDt.rank !== 1) throw new Error(`S4: logDt must be [H], got shape [${p.logDt.shape}]`);
  const H = p.logDt.shape[0];
  const M = p.lambdaRe.shape[1];
  for (const f of S4_MODE_FIELDS) {
    const t = p[f];
    if (t.rank !== 2 || t.shape[0] !== H || t.shape[1] !== M) {
      throw new Error(`S4: ${f} must be [H, N/2] = [${H}, ${M}], got shape [${t.shape}]`);
    }
  }
  const out = { H, M, logDt: p.logDt.dataSync() as Float32Array } as S4ParamArrays;
  for (const f of S4_MODE_FIELDS) out[f] = p[f].dataSync() as Float32Array;
  checkS4Arrays(out);
  return out;
}

/** Channel h in float64. */
export function s4Channel(a: S4ParamArrays, h: number): S4Channel {
  const { M } = a;
  const ch = { M, logDt: a.logDt[h]! } as S4Channel;
  for (const f of S4_MODE_FIELDS) ch[f] = Float64Array.from(a[f].subarray(h * M, (h + 1) * M));
  return ch;
}

export function zeroChannelGrad(M: number): S4ChannelGrad {
  const g = { M, logDt: 0 } as S4ChannelGrad;
  for (const f of S4_MODE_FIELDS) g[f] = new Float64Array(M);
  return g;
}
