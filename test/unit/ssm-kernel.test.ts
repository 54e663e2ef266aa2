import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../host/src/backend.js';
import { s4dKernel } from '../../host/src/ssm/s4d/op.js';
import { s4dKernelBackward } from '../../host/src/ssm/s4d/gradient.js';
import { s4dKernelForward, ssmWork } from '../../host/src/ssm/s4d/kernel.js';
import { initS4D, type S4DValues } from '../../host/src/ssm/s4d/params.js';
import { Rng } from '../../host/src/util/random.js';
import { configureSsmThreads, ssmThreadInfo } from '../../host/src/ssm/wasm/wasm-core.js';
import { cdiv, cexp, cmul, type C } from '../helpers/complex.js';

const initialThreads = ssmThreadInfo().threads;

// --- independent float64 reference: the direct S4D formula with explicit complex arithmetic ---

/** K[row, l] = 2·Re Σ_m C·(exp(dtA) − 1)/A·exp(dtA·l), computed with exp per l (no recurrence). */
function referenceKernel(p: S4DValues, L: number, active: number[]): Float64Array {
  const { H, M } = p;
  const dirs = p.cRe.length / (H * M);
  const out = new Float64Array(dirs * active.length * L);
  active.forEach((h, r) => {
    const dt = Math.exp(p.logDt[h]!);
    for (let m = 0; m < M; m++) {
      const i = h * M + m;
      const A: C = [-Math.exp(p.logAReal[i]!), p.aImag[i]!];
      const dtA: C = [dt * A[0], dt * A[1]];
      const factor = cdiv([cexp(dtA)[0] - 1, cexp(dtA)[1]], A);
      for (let d = 0; d < dirs; d++) {
        const Cp = cmul([p.cRe[d * H * M + i]!, p.cIm[d * H * M + i]!], factor);
        for (let l = 0; l < L; l++) {
          out[(d * active.length + r) * L + l]! += 2 * cmul(Cp, cexp([dtA[0] * l, dtA[1] * l]))[0];
        }
      }
    }
  });
  return out;
}

function randomParams(H: number, M: number, dirs: number, seed: number): S4DValues {
  const rng = new Rng(seed);
  const arr = (n: number, f: () => number) => Float64Array.from({ length: n }, f);
  return {
    H,
    M,
    logDt: arr(H, () => rng.uniform(Math.log(1e-3), Math.log(1e-1))),
    logAReal: arr(H * M, () => rng.uniform(-2, 1)),
    aImag: arr(H * M, () => rng.uniform(-5, 30)),
    cRe: arr(dirs * H * M, () => rng.normal()),
    cIm: arr(dirs * H * M, () => rng.normal()),
  };
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

const PARAM_NAMES = ['logDt', 'logAReal', 'aImag', 'cRe', 'cIm'] as const;

const ENGINES = ['wasm', 'js'] as const;
const DIRS_ENGINES = [1, 2].flatMap((dirs) => ENGINES.map((engine) => ({ dirs, engine })));

describe('S4D kernel (float64 core)', () => {
  it.each(DIRS_ENGINES)(
    'matches the direct complex formula (dirs = $dirs, $engine, some channels bypassed)',
    ({ dirs, engine }) => {
      const p = randomParams(5, 6, dirs, 11 + dirs);
      const active = [0, 2, 3];
      const L = 299; // not a multiple of 4: covers the tail after the 4-chain loop
      const k = s4dKernelForward(p, L, Int32Array.from(active), { engine });
      expect(k.length).toBe(dirs * active.length * L);
      // Recurrence z^l vs exp(l·dtA): rounding grows ~l·ε; 1e-11 relative is far below any bug.
      expect(maxRelDiff(k, referenceKernel(p, L, active))).toBeLessThan(1e-11);
    },
  );

  it('stays accurate for tiny dt·A (expm1 path)', () => {
    const p = randomParams(2, 3, 1, 5);
    p.logDt.fill(Math.log(1e-7));
    const k = s4dKernelForward(p, 50, Int32Array.from([0, 1]));
    expect(maxRelDiff(k, referenceKernel(p, 50, [0, 1]))).toBeLessThan(1e-7);
  });

  it.each(DIRS_ENGINES)(
    'backward matches central finite differences for every parameter (dirs = $dirs, $engine)',
    ({ dirs, engine }) => {
      const H = 3;
      const M = 4;
      const L = 23;
      const p = randomParams(H, M, dirs, 40 + dirs);
      const active = Int32Array.from([0, 2]);
      const rng = new Rng(7);
      const w = Float64Array.from({ length: dirs * active.length * L }, () => rng.normal());
      const loss = (q: S4DValues) => {
        const k = s4dKernelForward(q, L, active, { engine });
        let s = 0;
        for (let i = 0; i < k.length; i++) s += w[i]! * k[i]!;
        return s;
      };
      const g = s4dKernelBackward(p, L, active, w, { engine });
      const eps = 1e-6;
      for (const name of PARAM_NAMES) {
        const values = p[name] as Float64Array;
        for (let i = 0; i < values.length; i++) {
          const keep = values[i]!;
          values[i] = keep + eps;
          const up = loss(p);
          values[i] = keep - eps;
          const down = loss(p);
          values[i] = keep;
          const fd = (up - down) / (2 * eps);
          const an = g[name][i]!;
          // Central differences are O(eps²) accurate; tolerance 1e-6 relative (+1e-7 absolute for zeros).
          expect(Math.abs(an - fd), `${name}[${i}]: analytic ${an}, finite difference ${fd}`).toBeLessThan(
            1e-6 * Math.abs(fd) + 1e-7,
          );
        }
      }
      // Inactive channel 1: exactly zero gradient.
      expect(g.logDt[1]).toBe(0);
      for (let m = 0; m < M; m++) {
        expect(g.logAReal[M + m]).toBe(0);
        expect(g.cRe[M + m]).toBe(0);
      }
    },
  );

  it('wasm and js engines agree on a large kernel split over threads (L = 1001)', () => {
    configureSsmThreads({ threads: 2, minWork: 0 });
    try {
      const p = randomParams(8, 16, 2, 21);
      const active = Int32Array.from([0, 1, 2, 3, 5, 6, 7]);
      const w = Float64Array.from({ length: 2 * active.length * 1001 }, (_, i) => Math.sin(i));
      expect(
        maxRelDiff(s4dKernelForward(p, 1001, active), s4dKernelForward(p, 1001, active, { engine: 'js' })),
      ).toBeLessThan(1e-12);
      const a = s4dKernelBackward(p, 1001, active, w);
      const b = s4dKernelBackward(p, 1001, active, w, { engine: 'js' });
      for (const name of PARAM_NAMES) expect(maxRelDiff(a[name], b[name]), name).toBeLessThan(1e-10);
    } finally {
      configureSsmThreads({ threads: initialThreads, minWork: 1 << 18 });
    }
  });

  it('does no work for bypassed channels (their parameters may even be NaN)', () => {
    const H = 6;
    const M = 4;
    const p = randomParams(H, M, 2, 3);
    const active = Int32Array.from([1, 4]);
    for (const h of [0, 2, 3, 5]) {
      p.logDt[h] = NaN;
      for (let m = 0; m < M; m++) {
        p.logAReal[h * M + m] = NaN;
        p.cRe[h * M + m] = NaN;
        p.cIm[(H + h) * M + m] = NaN;
      }
    }
    const before = { ...ssmWork };
    const k = s4dKernelForward(p, 40, active);
    expect(k.every(Number.isFinite)).toBe(true);
    const g = s4dKernelBackward(p, 40, active, new Float64Array(k.length).fill(1));
    expect(g.cRe.every(Number.isFinite)).toBe(true);
    expect(ssmWork.kernelChannels - before.kernelChannels).toBe(2);
    expect(ssmWork.kernelBackwardChannels - before.kernelBackwardChannels).toBe(2);
  });

  it('names bad input', () => {
    const p = randomParams(3, 2, 1, 1);
    expect(() => s4dKernelForward(p, 10, Int32Array.from([2, 1]))).toThrow('sorted');
    expect(() => s4dKernelForward(p, 10, Int32Array.from([3]))).toThrow('out of range');
    expect(() => s4dKernelForward(p, 0, Int32Array.from([0]))).toThrow('length L');
    expect(() => s4dKernelForward({ ...p, cIm: new Float64Array(5) }, 10, Int32Array.from([0]))).toThrow('cRe and cIm');
    expect(() => s4dKernelForward({ ...p, aImag: new Float64Array(5) }, 10, Int32Array.from([0]))).toThrow('aImag');
    expect(() => s4dKernelBackward(p, 10, Int32Array.from([0]), new Float64Array(3))).toThrow('dK has 3 values');
  });
});

describe('initS4D', () => {
  it('gives S4D-Lin and S4D-Inv spectra, dt in range, C ~ N(0, 1/2), seeded', () => {
    const H = 64;
    const N = 16;
    const lin = initS4D(H, N, { init: 'lin', seed: 1 });
    expect(lin.logDt.length).toBe(H);
    expect(lin.aImag.length).toBe(H * 8);
    expect(lin.logDt.every((v) => v >= Math.log(1e-3) - 1e-6 && v <= Math.log(1e-1) + 1e-6)).toBe(true);
    expect(lin.logAReal.every((v) => Math.abs(Math.exp(v) - 0.5) < 1e-6)).toBe(true);
    expect(lin.aImag[3]).toBeCloseTo(3 * Math.PI, 5);
    const inv = initS4D(H, N, { init: 'inv', seed: 1 });
    expect(inv.aImag[2]).toBeCloseTo((16 / Math.PI) * (16 / 5 - 1), 4);
    let s2 = 0;
    for (const v of lin.cRe) s2 += v * v;
    expect(s2 / lin.cRe.length).toBeGreaterThan(0.4);
    expect(s2 / lin.cRe.length).toBeLessThan(0.6);
    expect(initS4D(H, N, { seed: 1 }).cIm).toEqual(lin.cIm);
    expect(initS4D(H, N, { seed: 2 }).cIm).not.toEqual(lin.cIm);
    expect(initS4D(4, 8, { bidirectional: true }).cRe.length).toBe(2 * 4 * 4);
    expect(() => initS4D(4, 7)).toThrow('even');
    expect(() => initS4D(4, 8, { dtMin: 0 })).toThrow('dtMin');
  });
});

describe('s4dKernel tfjs op', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it.each([1, 2])('forward and gradients equal the float64 core (dirs = %i)', (dirs) => {
    const H = 4;
    const M = 5;
    const L = 64;
    const init = initS4D(H, 2 * M, { seed: 9, bidirectional: dirs === 2 });
    const active = Int32Array.from([0, 1, 3]);
    const rng = new Rng(3);
    const w = Float32Array.from({ length: dirs * active.length * L }, () => rng.normal());
    const params = {
      logDt: tf.tensor1d(init.logDt),
      logAReal: tf.tensor2d(init.logAReal, [H, M]),
      aImag: tf.tensor2d(init.aImag, [H, M]),
      cRe: tf.tensor2d(init.cRe, [dirs * H, M]),
      cIm: tf.tensor2d(init.cIm, [dirs * H, M]),
    };
    const values: S4DValues = { H, M, ...init };
    const kTf = s4dKernel(params, L, active);
    expect(kTf.shape).toEqual([dirs * active.length, L]);
    const kRef = s4dKernelForward(values, L, active);
    expect(maxRelDiff(kTf.dataSync(), kRef)).toBeLessThan(1e-5);

    const wT = tf.tensor2d(w, [dirs * active.length, L]);
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor) =>
      tf.sum(
        tf.mul(
          s4dKernel(
            {
              logDt: a as tf.Tensor1D,
              logAReal: b as tf.Tensor2D,
              aImag: c as tf.Tensor2D,
              cRe: d as tf.Tensor2D,
              cIm: e as tf.Tensor2D,
            },
            L,
            active,
          ),
          wT,
        ),
      );
    const grads = tf.grads(f)([params.logDt, params.logAReal, params.aImag, params.cRe, params.cIm]);
    const core = s4dKernelBackward(values, L, active, w);
    PARAM_NAMES.forEach((name, i) => {
      expect(grads[i]!.shape).toEqual(params[name].shape);
      // float32 inputs and outputs: 1e-4 relative to the largest entry.
      expect(maxRelDiff(grads[i]!.dataSync(), core[name]), name).toBeLessThan(1e-4);
    });
    // Channel 2 is bypassed: zero gradient rows.
    expect(Array.from(grads[1]!.slice([2, 0], [1, M]).dataSync())).toEqual(new Array(M).fill(0));
  });

  it('names a wrong parameter shape', () => {
    const p = {
      logDt: tf.zeros([3]) as tf.Tensor1D,
      logAReal: tf.zeros([3, 2]) as tf.Tensor2D,
      aImag: tf.zeros([3, 2]) as tf.Tensor2D,
      cRe: tf.zeros([5, 2]) as tf.Tensor2D,
      cIm: tf.zeros([5, 2]) as tf.Tensor2D,
    };
    expect(() => s4dKernel(p, 8, Int32Array.from([0]))).toThrow('cRe has shape [5,2]');
    expect(() => s4dKernel({ ...p, aImag: tf.zeros([3, 4]) as tf.Tensor2D }, 8, Int32Array.from([0]))).toThrow('aImag');
  });
});
