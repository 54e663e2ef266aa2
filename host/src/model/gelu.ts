import * as tf from '@tensorflow/tfjs';

/**
 * Exact GELU, y = x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)), as one custom op: tfjs composes it from four
 * elementwise kernels forward and more backward (erf alone is slow on wasm), while one typed-array pass
 * each way is several times cheaper. dy/dx = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π).
 */

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, i.e. within float32 rounding of erf's range).
 */
export function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return s * (1 - poly * Math.exp(-a * a));
}

export function geluForward(x: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = 0.5 * v * (1 + erf(v * INV_SQRT2));
  }
  return y;
}

export function geluBackward(x: Float32Array, dy: Float32Array): Float32Array {
  const dx = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const cdf = 0.5 * (1 + erf(v * INV_SQRT2));
    dx[i] = dy[i]! * (cdf + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
  }
  return dx;
}

export const gelu = tf.customGrad((x, save) => {
  const t = x as tf.Tensor;
  (save as tf.GradSaveFunc)([t]);
  return {
    value: tf.tensor(geluForward(t.dataSync() as Float32Array), t.shape, 'float32'),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.tensor(geluBackward(saved[0]!.dataSync() as Float32Array, dy.dataSync() as Float32Array), dy.shape, 'float32'),
  };
}) as (x: tf.Tensor) => tf.Tensor;
