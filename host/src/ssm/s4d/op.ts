/**
 * The S4D kernel as a custom tfjs op with its hand-derived gradient (kernel.ts, gradient.ts). Forward and
 * backward read their inputs with dataSync(), compute in float64 outside tfjs (wasm SIMD on worker threads,
 * JS where wasm is unavailable) and return float32 tensors, so the op runs on every backend (wasm and cpu
 * lack complex kernels).
 */
import * as tf from '@tensorflow/tfjs';
import { checkShape } from '../tensor-args.js';
import { s4dKernelBackward } from './gradient.js';
import { s4dKernelForward } from './kernel.js';
import type { S4DValues } from './params.js';

export interface S4DParams {
  logDt: tf.Tensor1D; // [H]
  logAReal: tf.Tensor2D; // [H, N/2]
  aImag: tf.Tensor2D; // [H, N/2]
  /** [H, N/2] causal; [2H, N/2] bidirectional (rows 0..H−1 forward C, rows H..2H−1 backward C). */
  cRe: tf.Tensor2D;
  cIm: tf.Tensor2D;
}

/**
 * Kernel rows of the active channels, in the order of `active`: [active.length, L]; bidirectional
 * (C of shape [2H, N/2]): [2·active.length, L], forward rows first, then backward rows.
 * Differentiable w.r.t. every parameter; gradient rows of inactive channels are 0.
 */
export function s4dKernel(p: S4DParams, L: number, activeIn: Int32Array): tf.Tensor2D {
  // Own copy: the caller may change its active set before the backward pass runs.
  const active = Int32Array.from(activeIn);
  const H = checkShape('logDt', p.logDt, 1)[0]!;
  const M = checkShape('logAReal', p.logAReal, 2, [H])[1]!;
  checkShape('aImag', p.aImag, 2, [H, M]);
  const cRows = checkShape('cRe', p.cRe, 2)[0]!;
  if ((cRows !== H && cRows !== 2 * H) || p.cRe.shape[1] !== M) {
    throw new Error(
      `s4dKernel: cRe has shape [${p.cRe.shape}], expected [${H}, ${M}] or [${2 * H}, ${M}] (bidirectional)`,
    );
  }
  checkShape('cIm', p.cIm, 2, [cRows, M]);
  const dirs = cRows / H;
  const op = tf.customGrad((logDt, logAReal, aImag, cRe, cIm) => {
    const values: S4DValues = {
      H,
      M,
      logDt: (logDt as tf.Tensor).dataSync() as Float32Array,
      logAReal: (logAReal as tf.Tensor).dataSync() as Float32Array,
      aImag: (aImag as tf.Tensor).dataSync() as Float32Array,
      cRe: (cRe as tf.Tensor).dataSync() as Float32Array,
      cIm: (cIm as tf.Tensor).dataSync() as Float32Array,
    };
    const k = s4dKernelForward(values, L, active);
    return {
      value: tf.tensor2d(Float32Array.from(k), [dirs * active.length, L]),
      gradFunc: (dy: tf.Tensor) => {
        const g = s4dKernelBackward(values, L, active, dy.dataSync() as Float32Array);
        return [
          tf.tensor1d(Float32Array.from(g.logDt)),
          tf.tensor2d(Float32Array.from(g.logAReal), [H, M]),
          tf.tensor2d(Float32Array.from(g.aImag), [H, M]),
          tf.tensor2d(Float32Array.from(g.cRe), [cRows, M]),
          tf.tensor2d(Float32Array.from(g.cIm), [cRows, M]),
        ];
      },
    };
  });
  return op(p.logDt, p.logAReal, p.aImag, p.cRe, p.cIm) as tf.Tensor2D;
}
