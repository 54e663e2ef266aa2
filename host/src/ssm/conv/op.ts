/**
 * The long convolution of an SSM layer (conv.ts) as a custom tfjs op with its hand-derived gradient.
 * Forward and backward read their inputs with dataSync(), run the FFTs outside tfjs in single precision
 * (wasm SIMD on worker threads, JS where wasm is unavailable) and return float32 tensors, so the op runs
 * on every backend (wasm and cpu lack FFT kernels). Any kind's kernel rows feed it (S4D, S4).
 */
import * as tf from '@tensorflow/tfjs';
import { checkShape } from '../tensor-args.js';
import { releaseConvSaved, ssmConvBackward, ssmConvForward, type ConvSaved } from './conv.js';

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
