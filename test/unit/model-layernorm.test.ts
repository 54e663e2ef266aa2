/**
 * The hand-written LayerNorm backward (host/src/model/layers.ts) against central finite differences of a
 * float64 LayerNorm written here, for x, weight and bias, through a random linear read-out of the output.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { gelu, LAYER_NORM_EPS, layerNorm, linearGlu } from '../../host/src/model/layers.js';
import { Rng } from '../../host/src/util/random.js';
import { relErr } from '../helpers/numeric.js';

beforeAll(async () => {
  await initBackend();
});

/** Σ c·LayerNorm(x)·w + b in float64; x is [rows, H]. */
function objective(x: Float64Array, w: Float64Array, b: Float64Array, c: Float64Array, H: number): number {
  let total = 0;
  for (let r = 0; r < x.length / H; r++) {
    let mean = 0;
    for (let h = 0; h < H; h++) mean += x[r * H + h]!;
    mean /= H;
    let variance = 0;
    for (let h = 0; h < H; h++) variance += (x[r * H + h]! - mean) ** 2;
    variance /= H;
    const rstd = 1 / Math.sqrt(variance + LAYER_NORM_EPS);
    for (let h = 0; h < H; h++) total += c[r * H + h]! * ((x[r * H + h]! - mean) * rstd * w[h]! + b[h]!);
  }
  return total;
}

function finiteDifference(f: () => number, v: Float64Array, eps = 1e-6): Float64Array {
  return v.map((value, i) => {
    v[i] = value + eps;
    const up = f();
    v[i] = value - eps;
    const down = f();
    v[i] = value;
    return (up - down) / (2 * eps);
  });
}

describe('LayerNorm with its hand-written backward', () => {
  it('matches finite differences of a float64 LayerNorm for x, weight and bias', () => {
    const rng = new Rng(7);
    const [B, L, H] = [2, 3, 5];
    const n = B * L * H;
    // Rows with different offsets and scales, so mean and variance terms both matter.
    const x = Float64Array.from({ length: n }, (_, i) => rng.normal() * (1 + (i % 3)) + Math.floor(i / H) * 0.5);
    const w = Float64Array.from({ length: H }, () => 1 + 0.5 * rng.normal());
    const b = Float64Array.from({ length: H }, () => rng.normal());
    const c = Float64Array.from({ length: n }, () => rng.normal());
    const f = () => objective(x, w, b, c, H);
    const ct = tf.tensor(Float32Array.from(c), [B, L, H]);
    const grads = tf.grads((xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) =>
      tf.sum(tf.mul(layerNorm(xt, wt as tf.Tensor1D, bt as tf.Tensor1D), ct)),
    );
    const [gx, gw, gb] = grads([
      tf.tensor(Float32Array.from(x), [B, L, H]),
      tf.tensor(Float32Array.from(w)),
      tf.tensor(Float32Array.from(b)),
    ]);
    expect(relErr(gx!.dataSync(), finiteDifference(f, x)), 'dx').toBeLessThan(2e-4);
    expect(relErr(gw!.dataSync(), finiteDifference(f, w)), 'dweight').toBeLessThan(2e-4);
    expect(relErr(gb!.dataSync(), finiteDifference(f, b)), 'dbias').toBeLessThan(2e-4);
    // And the forward value itself.
    const y = tf.sum(
      tf.mul(
        layerNorm(
          tf.tensor(Float32Array.from(x), [B, L, H]),
          tf.tensor1d(Float32Array.from(w)),
          tf.tensor1d(Float32Array.from(b)),
        ),
        ct,
      ),
    );
    expect(y.dataSync()[0]!).toBeCloseTo(f(), 3);
  });
});

describe('Linear + GLU on weight slices', () => {
  it('equals GLU over the split of the full-width product, value and gradients', () => {
    const rng = new Rng(3);
    const [B, L, H] = [2, 5, 4];
    const x = tf.tensor(
      Float32Array.from({ length: B * L * H }, () => rng.normal()),
      [B, L, H],
    );
    const w = tf.tensor(
      Float32Array.from({ length: H * 2 * H }, () => rng.normal()),
      [H, 2 * H],
    );
    const b = tf.tensor(
      Float32Array.from({ length: 2 * H }, () => rng.normal()),
      [2 * H],
    );
    const c = tf.tensor(
      Float32Array.from({ length: B * L * H }, () => rng.normal()),
      [B, L, H],
    );
    // Reference: the whole product, then split into value and gate.
    const reference = (xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => {
      const y = tf.add(tf.matMul(tf.reshape(xt, [B * L, H]), wt as tf.Tensor2D), bt);
      const [a, g] = tf.split(y, 2, -1);
      return tf.sum(tf.mul(tf.reshape(tf.mul(a!, tf.sigmoid(g!)), [B, L, H]), c));
    };
    const ours = (xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) =>
      tf.sum(tf.mul(linearGlu(xt, wt as tf.Tensor2D, bt as tf.Tensor1D), c));
    expect(ours(x, w, b).dataSync()[0]!).toBeCloseTo(reference(x, w, b).dataSync()[0]!, 4);
    const want = tf.grads(reference)([x, w, b]);
    const got = tf.grads(ours)([x, w, b]);
    got.forEach((g, i) => {
      const a = g.dataSync();
      const r = want[i]!.dataSync();
      expect(a.length).toBe(r.length);
      for (let k = 0; k < a.length; k++) expect(a[k]!).toBeCloseTo(r[k]!, 4);
    });
  });
});

describe('GELU with its hand-written backward', () => {
  it('matches a float64 GELU and its finite differences', () => {
    // erf in float64 (Abramowitz–Stegun 7.1.26 is too coarse): the series / continued fraction via erfc.
    const erf = (z: number): number => {
      const t = Math.abs(z);
      if (t < 3) {
        let term = t;
        let total = t;
        for (let n = 1; n < 60; n++) {
          term *= (-t * t) / n;
          total += term / (2 * n + 1);
        }
        return Math.sign(z) * (2 / Math.sqrt(Math.PI)) * total;
      }
      return Math.sign(z) * (1 - (Math.exp(-t * t) / (t * Math.sqrt(Math.PI))) * (1 - 1 / (2 * t * t)));
    };
    const g64 = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    const xs = Float64Array.from([-4, -2.5, -1, -0.3, 0, 0.2, 0.9, 1.7, 3.2]);
    const c = Float64Array.from(xs, (_, i) => 1 + 0.1 * i);
    const f = () => xs.reduce((s, v, i) => s + c[i]! * g64(v), 0);
    const ct = tf.tensor(Float32Array.from(c));
    const [gx] = tf.grads((xt: tf.Tensor) => tf.sum(tf.mul(gelu(xt), ct)))([tf.tensor(Float32Array.from(xs))]);
    expect(relErr(gx!.dataSync(), finiteDifference(f, xs, 1e-5)), 'dx').toBeLessThan(2e-4);
    const y = gelu(tf.tensor(Float32Array.from(xs))).dataSync();
    xs.forEach((v, i) => expect(y[i]!).toBeCloseTo(g64(v), 5));
  });
});
