import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { erf, gelu, geluBackward, geluForward } from '../../host/src/model/gelu.js';

beforeAll(async () => {
  await initBackend('cpu');
});

/** erf by its Maclaurin series in float64 (converges fast for |x| ≤ 3), independent of the op's formula. */
function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

describe('GELU op', () => {
  it('erf within 2e-7 of a float64 series on [−3, 3]', () => {
    for (let x = -3; x <= 3; x += 0.01) expect(Math.abs(erf(x) - erfSeries(x))).toBeLessThan(2e-7);
  });

  it('matches tfjs composed from its own erf, forward and backward', () => {
    const x = tf.randomNormal([3, 50, 4], 0, 2, 'float32', 1);
    const ref = (t: tf.Tensor) => tf.mul(tf.mul(t, 0.5), tf.add(tf.erf(tf.mul(t, Math.SQRT1_2)), 1));
    const a = gelu(x).dataSync();
    const b = ref(x).dataSync();
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-6);
    const w = tf.randomNormal([3, 50, 4], 0, 1, 'float32', 2);
    const ga = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), w)))(x).dataSync();
    const gb = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(ref(t), w)))(x).dataSync();
    for (let i = 0; i < ga.length; i++) expect(Math.abs(ga[i]! - gb[i]!)).toBeLessThan(1e-5);
  });

  it('backward equals a central finite difference of the forward (float64 inputs through float32 arrays)', () => {
    const xs = Float32Array.from({ length: 200 }, (_, i) => -5 + i * 0.05);
    const dx = geluBackward(xs, new Float32Array(xs.length).fill(1));
    const h = 1e-3;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      const f = (v: number) => 0.5 * v * (1 + erfSeries(v / Math.SQRT2));
      const numeric = x > 3 || x < -3 ? (geluForward(Float32Array.of(x + h))[0]! - geluForward(Float32Array.of(x - h))[0]!) / (2 * h) : (f(x + h) - f(x - h)) / (2 * h);
      expect(Math.abs(dx[i]! - numeric)).toBeLessThan(2e-3);
    }
  });
});
