import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../host/src/backend.js';
import {
  convWork,
  releaseConvSaved,
  ssmConvBackward,
  ssmConvForward,
  type ConvDims,
} from '../../host/src/ssm/conv/conv.js';
import { ssmConv } from '../../host/src/ssm/conv/op.js';
import { Rng } from '../../host/src/util/random.js';

/**
 * Independent O(L²) reference, built the way the state-spaces FFTConv builds it: a length-2L kernel
 * kk = pad(k_f, (0, L)) + pad(flip(k_b), (L, 0)), circular convolution of size 2L with u zero-padded,
 * first L outputs kept, plus D·u. Bypassed channels: y = u.
 */
function referenceConv(
  u: Float64Array,
  k: Float64Array,
  d: Float64Array,
  active: number[],
  dims: ConvDims,
  bidirectional: boolean,
): Float64Array {
  const { B, L, H } = dims;
  const A = active.length;
  const y = Float64Array.from(u);
  active.forEach((h, r) => {
    const kk = new Float64Array(2 * L);
    for (let l = 0; l < L; l++) kk[l] = k[r * L + l]!;
    if (bidirectional) for (let l = 0; l < L; l++) kk[2 * L - 1 - l]! += k[(A + r) * L + l]!;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < L; t++) {
        let s = d[h]! * u[(b * L + t) * H + h]!;
        for (let j = 0; j < L; j++) s += kk[(t - j + 2 * L) % (2 * L)]! * u[(b * L + j) * H + h]!;
        y[(b * L + t) * H + h] = s;
      }
    }
  });
  return y;
}

function random(n: number, rng: Rng): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal());
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / Math.max(scale, 1e-300);
}

const CASES = [
  { name: 'causal, even B', dims: { B: 4, L: 37, H: 5 }, active: [0, 2, 3], bidirectional: false },
  { name: 'causal, odd B, L = power of two', dims: { B: 3, L: 64, H: 3 }, active: [1], bidirectional: false },
  { name: 'bidirectional, odd B', dims: { B: 5, L: 29, H: 4 }, active: [0, 1, 3], bidirectional: true },
  { name: 'L = 1', dims: { B: 2, L: 1, H: 2 }, active: [0, 1], bidirectional: true },
];

const ENGINES = ['wasm', 'js'] as const;
const ENGINE_CASES = ENGINES.flatMap((engine) => CASES.map((c) => ({ ...c, engine })));

describe('ssmConv float64 core', () => {
  it.each(ENGINE_CASES)(
    'matches a direct O(L²) convolution: $name ($engine)',
    ({ dims, active, bidirectional, engine }) => {
      const rng = new Rng(dims.L);
      const dirs = bidirectional ? 2 : 1;
      const u = random(dims.B * dims.L * dims.H, rng);
      const k = random(dirs * active.length * dims.L, rng);
      const d = random(dims.H, rng);
      const y = new Float64Array(u.length);
      const saved = ssmConvForward(u, k, d, Int32Array.from(active), dims, y, { bidirectional, engine });
      expect(saved.engine.name).toBe(dims.L >= 8 ? engine : 'js'); // FFTs below 16 points always run in JS
      expect(maxRelDiff(y, referenceConv(u, k, d, active, dims, bidirectional))).toBeLessThan(1e-12);
      // Bypassed channels are exactly the input.
      for (let i = 0; i < u.length; i++) if (!active.includes(i % dims.H)) expect(y[i]).toBe(u[i]);
    },
  );

  it.each(ENGINE_CASES.filter((c) => c.dims.L > 1))(
    'backward matches central finite differences for u, k and d: $name ($engine)',
    ({ dims, active, bidirectional, engine }) => {
      const rng = new Rng(100 + dims.L);
      const dirs = bidirectional ? 2 : 1;
      const act = Int32Array.from(active);
      const u = random(dims.B * dims.L * dims.H, rng);
      const k = random(dirs * active.length * dims.L, rng);
      const d = random(dims.H, rng);
      const w = random(u.length, rng);
      const y = new Float64Array(u.length);
      const loss = () => {
        ssmConvForward(u, k, d, act, dims, y, { bidirectional, engine });
        let s = 0;
        for (let i = 0; i < y.length; i++) s += w[i]! * y[i]!;
        return s;
      };
      const saved = ssmConvForward(u, k, d, act, dims, y, { bidirectional, engine });
      const g = ssmConvBackward(saved, w, new Float64Array(u.length));
      const eps = 1e-5;
      // The loss is linear in each argument, so central differences are exact up to rounding (~1e-10).
      for (const [name, values, grad] of [
        ['u', u, g.du],
        ['k', k, g.dk],
        ['d', d, g.dd],
      ] as const) {
        for (let i = 0; i < values.length; i++) {
          const keep = values[i]!;
          values[i] = keep + eps;
          const up = loss();
          values[i] = keep - eps;
          const down = loss();
          values[i] = keep;
          const fd = (up - down) / (2 * eps);
          expect(Math.abs(grad[i]! - fd), `${name}[${i}]: analytic ${grad[i]}, finite difference ${fd}`).toBeLessThan(
            1e-7 * Math.abs(fd) + 1e-7,
          );
        }
      }
      // Bypassed channels: dy passes straight through, and d gets no gradient.
      for (let i = 0; i < u.length; i++) if (!active.includes(i % dims.H)) expect(g.du[i]).toBe(w[i]);
      for (let h = 0; h < dims.H; h++) if (!active.includes(h)) expect(g.dd[h]).toBe(0);
    },
  );

  it.each([false, true])(
    'float32 tensors and spectra: the wasm engine (transposes in wasm) equals the js engine (bidirectional = %s)',
    (bidirectional) => {
      const dims = { B: 5, L: 100, H: 7 };
      const active = Int32Array.from([0, 3, 4, 6]);
      const dirs = bidirectional ? 2 : 1;
      const rng = new Rng(77);
      const f32 = (n: number) => Float32Array.from(random(n, rng));
      const u = f32(dims.B * dims.L * dims.H);
      const k = f32(dirs * active.length * dims.L);
      const d = f32(dims.H);
      const dy = f32(u.length);
      const run = (engine: 'wasm' | 'js') => {
        const y = new Float32Array(u.length);
        const saved = ssmConvForward(u, k, d, active, dims, y, { bidirectional, engine, saveSpectra: 'float32' });
        expect(saved.engine.name).toBe(engine);
        const g = ssmConvBackward(saved, dy, new Float32Array(u.length));
        return { y, ...g };
      };
      const a = run('wasm');
      const b = run('js');
      expect(maxRelDiff(a.y, b.y)).toBeLessThan(1e-6);
      expect(maxRelDiff(a.du, b.du)).toBeLessThan(1e-6);
      expect(maxRelDiff(a.dk, b.dk)).toBeLessThan(1e-6);
      expect(maxRelDiff(a.dd, b.dd)).toBeLessThan(1e-6);
      // Bypassed channels: exact pass-through in both.
      for (let i = 1; i < u.length; i += dims.H) {
        expect(a.y[i]).toBe(u[i]);
        expect(a.du[i]).toBe(dy[i]);
      }
    },
  );

  it('does no SSM work for bypassed channels', () => {
    const dims = { B: 4, L: 50, H: 10 };
    const rng = new Rng(1);
    const u = random(dims.B * dims.L * dims.H, rng);
    const active = Int32Array.from([3, 7]);
    const before = { ...convWork };
    const saved = ssmConvForward(
      u,
      random(2 * dims.L, rng),
      random(dims.H, rng),
      active,
      dims,
      new Float64Array(u.length),
    );
    ssmConvBackward(saved, u, new Float64Array(u.length));
    expect(convWork.forwardChannels - before.forwardChannels).toBe(2);
    expect(convWork.backwardChannels - before.backwardChannels).toBe(2);
    // Per active channel: 1 kernel FFT + 2 per pair forward; 2 per pair + 1 for dk backward.
    expect(convWork.ffts - before.ffts).toBe(2 * (1 + 2 * 2) + 2 * (2 * 2 + 1));
    const none = ssmConvForward(
      u,
      new Float64Array(0),
      random(dims.H, rng),
      new Int32Array(0),
      dims,
      new Float64Array(u.length),
    );
    expect(none.uRe.length).toBe(0);
  });

  it('recycles released buffers and refuses a second backward on them', () => {
    const dims = { B: 2, L: 20, H: 2 };
    const rng = new Rng(4);
    const u = random(dims.B * dims.L * dims.H, rng);
    const k = random(2 * dims.L, rng);
    const d = random(dims.H, rng);
    const y1 = new Float64Array(u.length);
    const s1 = ssmConvForward(u, k, d, Int32Array.from([0, 1]), dims, y1);
    const g1 = ssmConvBackward(s1, u, new Float64Array(u.length));
    releaseConvSaved(s1);
    expect(() => ssmConvBackward(s1, u, new Float64Array(u.length))).toThrow('released after a backward pass');
    // Same sizes: the next call gets the recycled (dirty) buffers and must still be exact.
    const y2 = new Float64Array(u.length);
    const s2 = ssmConvForward(u, k, d, Int32Array.from([0, 1]), dims, y2);
    expect(s2.uRe).toBe(s1.uRe);
    expect(y2).toEqual(y1);
    expect(ssmConvBackward(s2, u, new Float64Array(u.length)).dk).toEqual(g1.dk);
  });

  it.each(ENGINES)('without saving (inference) gives the same output and refuses a backward pass (%s)', (engine) => {
    const dims = { B: 3, L: 30, H: 3 };
    const rng = new Rng(8);
    const u = Float32Array.from(random(dims.B * dims.L * dims.H, rng));
    const k = Float32Array.from(random(2 * 2 * dims.L, rng));
    const d = Float32Array.from(random(dims.H, rng));
    const active = Int32Array.from([0, 2]);
    const opts = { bidirectional: true, engine, saveSpectra: 'float32' } as const;
    const y1 = new Float32Array(u.length);
    ssmConvForward(u, k, d, active, dims, y1, opts);
    const y2 = new Float32Array(u.length);
    const s2 = ssmConvForward(u, k, d, active, dims, y2, { ...opts, save: false });
    expect(y2).toEqual(y1);
    expect(s2.uRe.length).toBe(0);
    expect(() => ssmConvBackward(s2, u, new Float32Array(u.length))).toThrow('no saved forward state');
  });

  it('names bad input', () => {
    const dims = { B: 2, L: 8, H: 3 };
    const u = new Float64Array(48);
    const d = new Float64Array(3);
    const out = new Float64Array(48);
    expect(() => ssmConvForward(u, new Float64Array(16), d, Int32Array.from([0]), dims, out)).toThrow(
      'kernel has 2 rows',
    );
    expect(() => ssmConvForward(u, new Float64Array(8), new Float64Array(2), Int32Array.from([0]), dims, out)).toThrow(
      'D has 2 values',
    );
    expect(() => ssmConvForward(new Float64Array(5), new Float64Array(8), d, Int32Array.from([0]), dims, out)).toThrow(
      'u has 5 values',
    );
    expect(() => ssmConvForward(u, new Float64Array(8), d, Int32Array.from([5]), dims, out)).toThrow('out of range');
  });
});

describe('ssmConv tfjs op', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it.each([false, true])('forward and gradients equal the float64 core (bidirectional = %s)', (bidirectional) => {
    const dims = { B: 3, L: 40, H: 6 };
    const active = Int32Array.from([0, 2, 5]);
    const dirs = bidirectional ? 2 : 1;
    const rng = new Rng(5);
    const u = Float32Array.from(random(dims.B * dims.L * dims.H, rng));
    const k = Float32Array.from(random(dirs * active.length * dims.L, rng));
    const d = Float32Array.from(random(dims.H, rng));
    const w = Float32Array.from(random(u.length, rng));
    const uT = tf.tensor3d(u, [dims.B, dims.L, dims.H]);
    const kT = tf.tensor2d(k, [dirs * active.length, dims.L]);
    const dT = tf.tensor1d(d);
    const wT = tf.tensor3d(w, [dims.B, dims.L, dims.H]);

    const yRef = new Float64Array(u.length);
    const saved = ssmConvForward(u, k, d, active, dims, yRef, { bidirectional });
    const core = ssmConvBackward(saved, w, new Float64Array(u.length));

    const y = ssmConv(uT, kT, dT, active, { bidirectional });
    expect(y.shape).toEqual([dims.B, dims.L, dims.H]);
    expect(maxRelDiff(y.dataSync(), yRef)).toBeLessThan(1e-5);
    const [du, dk, dd] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.mul(ssmConv(a as tf.Tensor3D, b as tf.Tensor2D, c as tf.Tensor1D, active, { bidirectional }), wT)),
    )([uT, kT, dT]);
    expect(maxRelDiff(du!.dataSync(), core.du)).toBeLessThan(1e-5);
    expect(maxRelDiff(dk!.dataSync(), core.dk)).toBeLessThan(1e-5);
    expect(maxRelDiff(dd!.dataSync(), core.dd)).toBeLessThan(1e-5);
    expect(dd!.dataSync()[1]).toBe(0);
  });

  it('works with tf.variableGrads through a variable kernel', () => {
    const k = tf.variable(tf.randomNormal([1, 16]) as tf.Tensor2D);
    const d = tf.variable(tf.ones([2]) as tf.Tensor1D);
    const u = tf.randomNormal([2, 16, 2]) as tf.Tensor3D;
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(ssmConv(u, k, d, Int32Array.from([1])))));
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    expect(grads[k.name]!.shape).toEqual([1, 16]);
    expect(grads[d.name]!.dataSync()[0]).toBe(0);
    k.dispose();
    d.dispose();
  });

  it('names a wrong tensor shape', () => {
    const u = tf.zeros([2, 8, 3]) as tf.Tensor3D;
    expect(() =>
      ssmConv(u, tf.zeros([2, 8]) as tf.Tensor2D, tf.zeros([3]) as tf.Tensor1D, Int32Array.from([0])),
    ).toThrow('kernel has shape [2,8], expected [1,8]');
    expect(() =>
      ssmConv(u, tf.zeros([2, 8]) as tf.Tensor2D, tf.zeros([3]) as tf.Tensor1D, Int32Array.from([0]), {
        bidirectional: true,
      }),
    ).not.toThrow();
    expect(() =>
      ssmConv(u, tf.zeros([1, 8]) as tf.Tensor2D, tf.zeros([4]) as tf.Tensor1D, Int32Array.from([0])),
    ).toThrow('D has shape');
  });
});
