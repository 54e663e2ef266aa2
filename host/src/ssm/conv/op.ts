/**
 * The S4D core as custom tfjs ops with hand-derived gradients (see s4d.ts and conv.ts for the formulas).
 * Forward and backward read their inputs with dataSync(), compute outside tfjs (the kernel in float64,
 * the convolution's FFTs in single precision; wasm SIMD on worker threads, JS where wasm is unavailable)
 * and return float32 tensors, so they run on every backend (wasm and cpu lack complex/FFT kernels).
 */
import * as tf from '@tensorflow/tfjs';
import { releaseConvSaved, ssmConvBackward, ssmConvForward, type ConvSaved } from './conv.js';
import { s4dKernelBackward, s4dKernelForward, type S4DValues } from '../s4d/kernel.js';

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
    throw new Error(`s4dKernel: cRe has shape [${p.cRe.shape}], expected [${H}, ${M}] or [${2 * H}, ${M}] (bidirectional)`);
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

/**
 * u: [B, L, H] (channels last). For active channel h (row r of k):
 * y[b,:,h] = causal_conv(k[r], u[b,:,h]) + d[h]·u[b,:,h]; bypassed h: y[b,:,h] = u[b,:,h].
 * Bidirectional: k has 2·active.length rows, row active.length + r the backward kernel of channel
 * active[r], applied at lags −1, −2, … (as the state-spaces FFTConv does).
 * Differentiable w.r.t. u, k, d (d's gradient is 0 for bypassed channels).
 */
export function ssmConv(
  u: tf.Tensor3D,
  k: tf.Tensor2D,
  d: tf.Tensor1D,
  activeIn: Int32Array,
  opts: { bidirectional?: boolean } = {},
): tf.Tensor3D {
  const active = Int32Array.from(activeIn);
  const [B, L, H] = checkShape('u', u, 3);
  const dirs = opts.bidirectional ? 2 : 1;
  checkShape('kernel', k, 2, [dirs * active.length, L]);
  checkShape('D', d, 1, [H]);
  const dims = { B: B!, L: L!, H: H! };
  const op = tf.customGrad((uT, kT, dT) => {
    const y = new Float32Array(dims.B * dims.L * dims.H);
    const saved: ConvSaved = ssmConvForward(
      (uT as tf.Tensor).dataSync() as Float32Array,
      (kT as tf.Tensor).dataSync() as Float32Array,
      (dT as tf.Tensor).dataSync() as Float32Array,
      active,
      dims,
      y,
      // Float32 spectra: the op's inputs and gradients are float32 anyway; halves the kept memory.
      // Nothing is kept unless a gradient is being recorded (inference, evaluation).
      { bidirectional: opts.bidirectional, saveSpectra: 'float32', save: recordingGradients() },
    );
    return {
      value: tf.tensor3d(y, [dims.B, dims.L, dims.H]),
      gradFunc: (dy: tf.Tensor) => {
        const du = new Float32Array(y.length);
        const g = ssmConvBackward(saved, dy.dataSync() as Float32Array, du);
        releaseConvSaved(saved);
        return [
          tf.tensor3d(du, [dims.B, dims.L, dims.H]),
          tf.tensor2d(Float32Array.from(g.dk), [dirs * active.length, dims.L]),
          tf.tensor1d(Float32Array.from(g.dd)),
        ];
      },
    };
  });
  return op(u, k, d) as tf.Tensor3D;
}

/** Whether tfjs is recording operations for a gradient (inside tf.grads, variableGrads, minimize). */
function recordingGradients(): boolean {
  const depth = (tf.engine().state as { gradientDepth?: number }).gradientDepth;
  return depth === undefined || depth > 0;
}

/** Checks rank (and leading dims when given); returns the shape. Errors name the argument. */
function checkShape(name: string, t: tf.Tensor, rank: number, expect: number[] = []): number[] {
  if (!(t instanceof tf.Tensor)) throw new Error(`${name} must be a tf.Tensor`);
  if (t.rank !== rank || expect.some((v, i) => t.shape[i] !== v)) {
    const want = [...expect.map(String), ...Array<string>(rank - expect.length).fill('?')];
    throw new Error(`${name} has shape [${t.shape}], expected [${want}]`);
  }
  return t.shape;
}
