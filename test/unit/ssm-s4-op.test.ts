import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../host/src/backend.js';
import { s4KernelBackward, s4KernelForward } from '../../host/src/ssm/s4/kernel.js';
import { initS4, s4ParamsFromArrays } from '../../host/src/ssm/s4/init.js';
import { S4_MODE_FIELDS, s4Channel, type S4Params } from '../../host/src/ssm/s4/params.js';
import { s4Discretize, s4StepRun } from '../../host/src/ssm/s4/discrete.js';
import { s4Kernel } from '../../host/src/ssm/s4/op.js';

const FIELDS = ['logDt', ...S4_MODE_FIELDS] as const;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** LegS init, then perturbed so the channels differ in every parameter; one Re Λ above the clamp. */
function testArrays(H: number, N: number) {
  const a = initS4(H, N, { seed: 4, dtMin: 0.05, dtMax: 0.5 });
  const r = lcg(8);
  for (const f of S4_MODE_FIELDS)
    for (let i = 0; i < a[f].length; i++) a[f][i] = a[f][i]! * (0.8 + 0.4 * r()) + 0.05 * (r() - 0.5);
  a.lambdaRe[N / 2] = 0.2; // channel 1, mode 0
  return a;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`s4Kernel tfjs op on the ${backend} backend`, () => {
    const H = 5,
      N = 8,
      L = 50;
    const active = Int32Array.from([1, 2, 4]);
    const arrays = testArrays(H, N);
    let p: S4Params;

    it('starts the backend', async () => {
      const choice = await initBackend(backend);
      expect(choice.name).toBe(backend);
      expect(tf.getBackend()).toBe(backend);
      p = s4ParamsFromArrays(arrays);
    });

    it('forward: rows of the active channels, in their order, equal the float64 core', () => {
      const K = s4Kernel(p, L, active);
      expect(K.shape).toEqual([3, L]);
      expect(K.dtype).toBe('float32');
      const got = K.dataSync();
      active.forEach((h, row) => {
        const ref = s4KernelForward(s4Channel(arrays, h), L).k;
        const scale = Math.max(...ref.map(Math.abs));
        for (let l = 0; l < L; l++) expect(Math.abs(got[row * L + l]! - ref[l]!)).toBeLessThan(1e-5 * scale);
      });
      K.dispose();
    });

    it('gradients (tf.grads) equal the core backward; inactive channels get exact zeros', () => {
      const r = lcg(31);
      const gArr = Float32Array.from({ length: active.length * L }, () => 2 * r() - 1);
      const G = tf.tensor2d(gArr, [active.length, L]);
      const loss = (...ts: tf.Tensor[]) => {
        const q = {} as Record<string, tf.Tensor>;
        FIELDS.forEach((f, i) => (q[f] = ts[i]!));
        return tf.sum(tf.mul(s4Kernel(q as unknown as S4Params, L, active), G));
      };
      const grads = tf.grads(loss)(FIELDS.map((f) => p[f]));
      const M = N / 2;
      const values = grads.map((g) => g.dataSync());
      const rows = new Set(Array.from(active));
      active.forEach((h, row) => {
        const ref = s4KernelBackward(s4Channel(arrays, h), L, Float64Array.from(gArr.subarray(row * L, (row + 1) * L)));
        const refLogDt = ref.logDt;
        expect(Math.abs(values[0]![h]! - refLogDt)).toBeLessThan(1e-5 * (1 + Math.abs(refLogDt)));
        S4_MODE_FIELDS.forEach((f, j) => {
          const scale = 1 + Math.max(...ref[f].map(Math.abs));
          for (let n = 0; n < M; n++)
            expect(Math.abs(values[j + 1]![h * M + n]! - ref[f][n]!)).toBeLessThan(1e-5 * scale);
        });
      });
      for (let h = 0; h < H; h++) {
        if (rows.has(h)) continue;
        expect(values[0]![h]).toBe(0);
        for (let j = 1; j < values.length; j++) for (let n = 0; n < M; n++) expect(values[j]![h * M + n]).toBe(0);
      }
      // Channel 1 has Re Λ[0] above the clamp: zero gradient there, nonzero elsewhere.
      expect(values[1]![1 * M]).toBe(0);
      expect(Math.abs(values[1]![1 * M + 1]!)).toBeGreaterThan(0);
      G.dispose();
      grads.forEach((g) => g.dispose());
    });

    it('composes with other ops and trains: a few SGD steps on a kernel-matching loss reduce it', () => {
      const vars = FIELDS.map((f) => tf.variable(p[f].clone()));
      const target = tf.tidy(() => s4Kernel(p, L, active).mul(0.5));
      const asParams = () => {
        const q = {} as Record<string, tf.Tensor>;
        FIELDS.forEach((f, i) => (q[f] = vars[i]!));
        return q as unknown as S4Params;
      };
      const lossFn = () => tf.mean(tf.square(tf.sub(s4Kernel(asParams(), L, active), target))) as tf.Scalar;
      const opt = tf.train.adam(0.01);
      const first = tf.tidy(() => lossFn().dataSync()[0]!);
      for (let i = 0; i < 15; i++) opt.minimize(lossFn, true)?.dispose();
      const last = tf.tidy(() => lossFn().dataSync()[0]!);
      expect(last).toBeLessThan(0.5 * first);
      tf.dispose([...vars, target]);
      opt.dispose();
    });

    it('rejects bad input with a clear error', () => {
      expect(() => s4Kernel(p, 0, active)).toThrow('length L must be a positive integer');
      expect(() => s4Kernel(p, 10, Int32Array.from([5]))).toThrow('active channel 5 out of range [0, 5)');
      expect(() => s4Kernel(p, 10, [0] as unknown as Int32Array)).toThrow('must be an Int32Array');
      expect(() => s4Kernel(p, 10, Int32Array.from([2, 1]))).toThrow('sorted and unique');
      const bad = { ...p, cIm: tf.zeros([H, N / 2 + 1]) as tf.Tensor2D };
      expect(() => s4Kernel(bad, 10, active)).toThrow('cIm must be [H, N/2] = [5, 4]');
      bad.cIm.dispose();
    });

    it('does no work for inactive channels: an invalid log_dt there is never read', () => {
      const bad = { ...arrays, logDt: arrays.logDt.slice() };
      bad.logDt[0] = Number.NaN;
      bad.logDt[3] = Number.POSITIVE_INFINITY;
      const q = s4ParamsFromArrays(bad);
      const K = s4Kernel(q, 20, active);
      expect(Array.from(K.dataSync()).every(Number.isFinite)).toBe(true);
      expect(() => s4Kernel(q, 20, Int32Array.from([0]))).toThrow('dt = exp(logDt) must be positive and finite');
      K.dispose();
      FIELDS.forEach((f) => q[f].dispose());
    });

    it('float32 conv mode (op kernel + direct causal convolution) equals float64 step mode within 1e-4 at L = 1024', () => {
      const Hc = 3,
        Lc = 1024;
      const init = initS4(Hc, 64, { seed: 12 }); // LegS: |Im Λ| up to ~1300, dt in [1e-3, 1e-1)
      const q = s4ParamsFromArrays(init);
      const act = Int32Array.from([0, 2]);
      const K = s4Kernel(q, Lc, act).dataSync();
      const r = lcg(5);
      const u = Float64Array.from({ length: act.length * Lc }, () => 2 * r() - 1);
      const yStep = s4StepRun(s4Discretize(init, act), u, Lc);
      for (let row = 0; row < act.length; row++) {
        let num = 0,
          den = 0;
        for (let t = 0; t < Lc; t++) {
          let y = 0;
          for (let j = 0; j <= t; j++) y += K[row * Lc + t - j]! * u[row * Lc + j]!;
          num += (y - yStep[row * Lc + t]!) ** 2;
          den += yStep[row * Lc + t]! ** 2;
        }
        expect(Math.sqrt(num / den)).toBeLessThan(1e-4);
      }
      FIELDS.forEach((f) => q[f].dispose());
    });

    it('an empty active set gives a [0, L] kernel', () => {
      const K = s4Kernel(p, 7, new Int32Array(0));
      expect(K.shape).toEqual([0, 7]);
      K.dispose();
    });

    afterAll(() => {
      if (p) FIELDS.forEach((f) => p[f].dispose());
    });
  });
}
