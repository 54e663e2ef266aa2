/**
 * Importance criteria against independent float64 references (kernel energy and H∞ from the S4D formula,
 * written here), the Taylor saliency against a finite difference of the real loss along the bypass path,
 * and the bypass itself: identity in the host model and in the exported ONNX (onnxruntime-node).
 */
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { addingProblem } from '../../host/src/data/adding.js';
import { exportModel } from '../../host/src/export/export.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { importanceScores, parseCriteria } from '../../host/src/prune/criteria/index.js';
import {
  ablationScores,
  chooseBypass,
  dScores,
  kernelScores,
  normalizePerLayer,
  randomScores,
  rankNormalize,
  taylorScores,
} from '../../host/src/prune/importance.js';
import {
  activeCount,
  allActive,
  applyOperators,
  bypassedCounts,
  bypassedOf,
  checkOperators,
  keepsPruned,
  prunedFraction,
  withBypassed,
} from '../../host/src/prune/operators.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const values = (model: SequenceModel, name: string) => Float64Array.from(model.params.get(name).dataSync());

/** K[h, l] = 2·Re Σ_m C_m·(e^{dtA_m} − 1)/A_m·e^{dtA_m·l}, straight from the S4D definition. */
function referenceKernel(model: SequenceModel, layer: number, h: number, L: number, dir = 0): Float64Array {
  const M = model.config.dState / 2;
  const H = model.config.dModel;
  const p = `s4_layers.${layer}.kernel`;
  const dt = Math.exp(values(model, `${p}.log_dt`)[h]!);
  const logAR = values(model, `${p}.log_A_real`);
  const aIm = values(model, `${p}.A_imag`);
  const cRe = values(model, `${p}.C_re`);
  const cIm = values(model, `${p}.C_im`);
  const K = new Float64Array(L);
  for (let m = 0; m < M; m++) {
    const ar = -Math.exp(logAR[h * M + m]!);
    const ai = aIm[h * M + m]!;
    const c = { re: cRe[(dir * H + h) * M + m]!, im: cIm[(dir * H + h) * M + m]! };
    for (let l = 0; l < L; l++) {
      // e^{dtA·l}, e^{dtA} − 1, division by A, product with C, real part.
      const zl = {
        re: Math.exp(dt * ar * l) * Math.cos(dt * ai * l),
        im: Math.exp(dt * ar * l) * Math.sin(dt * ai * l),
      };
      const e1 = { re: Math.exp(dt * ar) * Math.cos(dt * ai) - 1, im: Math.exp(dt * ar) * Math.sin(dt * ai) };
      const den = ar * ar + ai * ai;
      const f = { re: (e1.re * ar + e1.im * ai) / den, im: (e1.im * ar - e1.re * ai) / den };
      const cp = { re: c.re * f.re - c.im * f.im, im: c.re * f.im + c.im * f.re };
      K[l] += 2 * (cp.re * zl.re - cp.im * zl.im);
    }
  }
  return K;
}

describe('kernel criteria (S4D)', () => {
  const L = 24;
  const model = new SequenceModel(tinyConfig({ dModel: 5, dState: 6 }), 3);
  model.setActive(1, [0, 2, 4]);

  it('energy is Σ K² of the reference kernel, for the active channels in order', () => {
    const e = kernelScores(model, L, 'energy');
    expect(e.map((l) => l.length)).toEqual([5, 3]);
    for (const [i, layer] of [
      [0, [0, 1, 2, 3, 4]],
      [1, [0, 2, 4]],
    ] as const) {
      layer.forEach((h, k) => {
        const ref = referenceKernel(model, i, h, L).reduce((a, v) => a + v * v, 0);
        expect(e[i]![k]!).toBeCloseTo(ref, 5);
      });
    }
  });

  it('H∞ is the peak of |Σ K[l] e^{−iωl}| on the 4L-point grid (direct DTFT here)', () => {
    const s = kernelScores(model, L, 'hinf');
    const n = 128; // nextPow2(4 · 24)
    model.active(1).forEach((h, k) => {
      const K = referenceKernel(model, 1, h, L);
      let peak = 0;
      for (let f = 0; f < n; f++) {
        let re = 0;
        let im = 0;
        for (let l = 0; l < L; l++) {
          re += K[l]! * Math.cos((2 * Math.PI * f * l) / n);
          im -= K[l]! * Math.sin((2 * Math.PI * f * l) / n);
        }
        peak = Math.max(peak, Math.hypot(re, im));
      }
      expect(s[1]![k]!).toBeCloseTo(peak, 5);
    });
  });

  it('energy-delta and hinf-delta measure what bypassing changes: K + (D − 1)·δ', () => {
    const ed = kernelScores(model, L, 'energy', true);
    const hd = kernelScores(model, L, 'hinf', true);
    const D = values(model, 's4_layers.1.D');
    model.active(1).forEach((h, k) => {
      const K = referenceKernel(model, 1, h, L);
      K[0] += Math.fround(D[h]!) - 1;
      expect(ed[1]![k]!).toBeCloseTo(
        K.reduce((a, v) => a + v * v, 0),
        5,
      );
      // At ω = 0 the change is Σ K + D − 1: a lower bound of its H∞ norm.
      expect(hd[1]![k]!).toBeGreaterThanOrEqual(Math.abs(K.reduce((a, v) => a + v, 0)) - 1e-9);
    });
  });

  it('bidirectional layers add both directions', () => {
    const bi = new SequenceModel(tinyConfig({ dModel: 3, dState: 4, nLayers: 1, bidirectional: true }), 4);
    const e = kernelScores(bi, L, 'energy');
    for (let h = 0; h < 3; h++) {
      const ref = [0, 1].reduce((a, d) => a + referenceKernel(bi, 0, h, L, d).reduce((x, v) => x + v * v, 0), 0);
      expect(e[0]![h]!).toBeCloseTo(ref, 5);
    }
    bi.dispose();
  });

  it('S4 kernels score too (finite, positive, one per active channel)', () => {
    const s4 = new SequenceModel(tinyConfig({ ssm: 's4', dModel: 4, dState: 4 }), 2);
    s4.setActive(0, [1, 3]);
    for (const kind of ['hinf', 'energy'] as const) {
      const s = kernelScores(s4, L, kind);
      expect(s.map((l) => l.length)).toEqual([2, 4]);
      for (const v of s.flat()) expect(v).toBeGreaterThan(0);
    }
    s4.dispose();
  });

  it('|D| and random scores', () => {
    const D = values(model, 's4_layers.1.D');
    expect(dScores(model)[1]).toEqual([0, 2, 4].map((h) => Math.abs(Math.fround(D[h]!))));
    const a = randomScores(model, 7);
    expect(randomScores(model, 7)).toEqual(a);
    expect(randomScores(model, 8)).not.toEqual(a);
    expect(a.map((l) => l.length)).toEqual([5, 3]);
  });
});

describe('Taylor saliency', () => {
  const data = addingProblem({ length: 24, train: 16, val: 4, test: 4, seed: 1 });

  /** Loss on the first training batch (shuffled by `seed`), inference mode. */
  function batchLoss(model: SequenceModel, seed: number): number {
    const batch = data.train.batches(8, { seed })[Symbol.iterator]().next().value!;
    const l = tf.tidy(() => model.loss(model.forward(batch.x, { training: false }), batch.y).dataSync()[0]!);
    batch.x.dispose();
    batch.y.dispose();
    return l;
  }

  /** Moves channel h of layer i along the bypass path: D ← D + ε(1 − D), C ← (1 − ε)C. */
  function gate(model: SequenceModel, i: number, h: number, eps: number, base: Map<string, Float32Array>): void {
    const M = model.config.dState / 2;
    for (const [name, v] of base) model.params.set(name, v, model.params.get(name).shape);
    const D = base.get(`s4_layers.${i}.D`)!.slice();
    D[h] = D[h]! + eps * (1 - D[h]!);
    model.params.set(`s4_layers.${i}.D`, D, [D.length]);
    for (const part of ['C_re', 'C_im']) {
      const name = `s4_layers.${i}.kernel.${part}`;
      const C = base.get(name)!.slice();
      for (let m = 0; m < M; m++) C[h * M + m] = (1 - eps) * C[h * M + m]!;
      model.params.set(name, C, model.params.get(name).shape);
    }
  }

  it.each(['s4d', 's4'] as const)('%s: matches the central difference of the loss along the bypass path', (ssm) => {
    const model = new SequenceModel(
      tinyConfig({ ssm, dModel: 4, dState: 4, nLayers: 2, inputSize: 2, numClasses: 9 }),
      5,
    );
    model.setActive(0, [0, 1, 3]);
    const seed = 3;
    const scores = taylorScores(model, data, { batches: 1, batchSize: 8, seed });
    const names = [0, 1].flatMap((i) => [
      `s4_layers.${i}.D`,
      `s4_layers.${i}.kernel.C_re`,
      `s4_layers.${i}.kernel.C_im`,
    ]);
    const base = new Map(names.map((n) => [n, model.params.get(n).dataSync().slice() as Float32Array]));
    const eps = 1e-2;
    let checked = 0;
    for (let i = 0; i < 2; i++) {
      model.active(i).forEach((h, k) => {
        gate(model, i, h, eps, base);
        const up = batchLoss(model, seed);
        gate(model, i, h, -eps, base);
        const down = batchLoss(model, seed);
        const fd = Math.abs((up - down) / (2 * eps));
        // Relative, with a floor at the finite difference's float32 resolution (ulp of the loss / 2ε).
        expect(Math.abs(scores[i]![k]! - fd), `layer ${i} channel ${h}: ${scores[i]![k]} vs ${fd}`).toBeLessThan(
          0.03 * fd + 3e-5,
        );
        checked += 1;
      });
    }
    gate(model, 0, 0, 0, base);
    expect(checked).toBe(7);
    model.dispose();
  });
});

describe('ablation', () => {
  it('is the loss increase of bypassing each channel alone, on the same batches', () => {
    const data = addingProblem({ length: 24, train: 16, val: 4, test: 4, seed: 1 });
    const model = new SequenceModel(tinyConfig({ dModel: 4, dState: 4, nLayers: 2, inputSize: 2, numClasses: 9 }), 6);
    model.setActive(1, [0, 2, 3]);
    const scores = ablationScores(model, data, { batches: 1, batchSize: 8, seed: 2 });
    const batch = data.train.batches(8, { seed: 2 })[Symbol.iterator]().next().value!;
    const loss = () => tf.tidy(() => model.loss(model.forward(batch.x, { training: false }), batch.y).dataSync()[0]!);
    // The model is left as it was.
    expect(Array.from(model.active(1))).toEqual([0, 2, 3]);
    const base = loss();
    expect(scores[1]!).toHaveLength(3);
    [0, 2, 3].forEach((h, k) => {
      model.setActive(
        1,
        [0, 2, 3].filter((c) => c !== h),
      );
      expect(scores[1]![k]!).toBeCloseTo(loss() - base, 6);
    });
    batch.x.dispose();
    batch.y.dispose();
    model.dispose();
  });
});

describe('bypass is identity', () => {
  const cfg = tinyConfig({ dModel: 6, dState: 4, nLayers: 2 });
  const L = 20;
  const x = Float32Array.from({ length: 2 * L * 2 }, (_, i) => Math.sin(0.3 * i) + 0.2 * Math.cos(1.3 * i));
  const bypass = [
    [1, 4],
    [0, 2, 5],
  ];

  /** All channels active, but the bypassed ones given kernel 0 (C = 0) and D = 1: y = u by construction. */
  function identityModel(): SequenceModel {
    const m = new SequenceModel(cfg, 9);
    const M = cfg.dState / 2;
    bypass.forEach((chans, i) => {
      const D = m.params.get(`s4_layers.${i}.D`).dataSync().slice() as Float32Array;
      for (const h of chans) D[h] = 1;
      m.params.set(`s4_layers.${i}.D`, D, [cfg.dModel]);
      for (const part of ['C_re', 'C_im']) {
        const name = `s4_layers.${i}.kernel.${part}`;
        const C = m.params.get(name).dataSync().slice() as Float32Array;
        for (const h of chans) C.fill(0, h * M, (h + 1) * M);
        m.params.set(name, C, [cfg.dModel, M]);
      }
    });
    return m;
  }

  function pruned(): SequenceModel {
    const m = new SequenceModel(cfg, 9);
    applyOperators(m, withBypassed(allActive(cfg.dModel, cfg.nLayers), bypass));
    return m;
  }

  const logits = (m: SequenceModel) =>
    tf.tidy(() => m.forward(tf.tensor3d(x, [2, L, 2]), { training: false }).dataSync() as Float32Array);

  it('in the host model', () => {
    const want = logits(identityModel());
    const got = logits(pruned());
    for (let i = 0; i < want.length; i++) expect(got[i]!).toBeCloseTo(want[i]!, 5);
    // And it can fail: the unpruned model differs.
    const full = logits(new SequenceModel(cfg, 9));
    expect(Math.max(...full.map((v, i) => Math.abs(v - want[i]!)))).toBeGreaterThan(1e-3);
  });

  it('in the exported ONNX (conv and step mode, onnxruntime-node)', async () => {
    const want = logits(identityModel());
    const model = pruned();
    for (const mode of ['conv', 'step'] as const) {
      const r = exportModel(model, { mode, length: L });
      expect(r.stats.activeOperators).toBe(12 - 5);
      const s = await ort.InferenceSession.create(r.bytes);
      let got: Float32Array;
      if (mode === 'conv') {
        got = (await s.run({ x: new ort.Tensor('float32', x, [2, L, 2]) })).logits!.data as Float32Array;
      } else {
        const { runStepModel } = await import('../../host/src/export/step-runner.js');
        const run = await runStepModel(s as never, ort.Tensor as never, r.states, {
          batch: 2,
          length: L,
          x,
          inputSize: 2,
        });
        got = run.logits[L - 1]! as Float32Array;
      }
      await s.release();
      for (let i = 0; i < want.length; i++) expect(got[i]!, `${mode} logit ${i}`).toBeCloseTo(want[i]!, 4);
    }
  });
});

describe('choosing and combining', () => {
  it('chooseBypass drops the lowest-scored active channels, up to the per-layer count', () => {
    const active = [
      [0, 1, 2, 3],
      [1, 2, 3],
    ];
    const scores = [
      [0.5, 0.1, 0.9, 0.2],
      [3, 1, 2],
    ];
    // Layer 0: 2 to bypass → channels 1 (0.1) and 3 (0.2). Layer 1 has 1 bypassed, 2 asked → one more: 2 (1).
    expect(chooseBypass(active, scores, [2, 2], 4)).toEqual([[1, 3], [2]]);
    expect(() => chooseBypass(active, scores, [4, 1], 4)).toThrow(/one must stay/);
    expect(() => chooseBypass(active, scores, [0, 0], 4)).toThrow(/already has 1 bypassed/);
  });

  it('rank normalisation and per-layer scaling', () => {
    expect(rankNormalize([[3, 1, 2, 2]])).toEqual([[1, 0, 0.5, 0.5]]);
    expect(
      normalizePerLayer([
        [1, 3],
        [2, 2],
      ]),
    ).toEqual([
      [0.5, 1.5],
      [1, 1],
    ]);
    // Negative scores (an ablation that lowers the loss) keep their order: −2 stays below 1.
    expect(
      normalizePerLayer([
        [-2, 1],
        [0, 0],
      ]),
    ).toEqual([
      [-4 / 3, 2 / 3],
      [0, 0],
    ]);
  });

  it('criteria parse, and several combine by weighted ranks', () => {
    expect(parseCriteria('2*hinf+d')).toEqual([
      { criterion: 'hinf', weight: 2 },
      { criterion: 'd', weight: 1 },
    ]);
    expect(() => parseCriteria('hinf+magic')).toThrow(/unknown criterion "magic"/);
    expect(() => parseCriteria('d+d')).toThrow(/twice/);
    const model = new SequenceModel(tinyConfig({ dModel: 5 }), 1);
    const ctx = { L: 16, seed: 0 };
    const both = importanceScores(model, parseCriteria('energy+d'), ctx);
    const re = rankNormalize(kernelScores(model, 16, 'energy'));
    const rd = rankNormalize(dScores(model));
    both.forEach((layer, i) => layer.forEach((v, k) => expect(v).toBeCloseTo((re[i]![k]! + rd[i]![k]!) / 2, 12)));
    model.dispose();
  });
});

describe('operator sets', () => {
  it('bookkeeping and errors', () => {
    const a = withBypassed(allActive(4, 2), [[1], [0, 3]]);
    expect(a).toEqual([
      [0, 2, 3],
      [1, 2],
    ]);
    expect(bypassedOf(a, 4)).toEqual([[1], [0, 3]]);
    expect(bypassedCounts(a, 4)).toEqual([1, 2]);
    expect(activeCount(a)).toBe(5);
    expect(prunedFraction(a, 4)).toBeCloseTo(3 / 8, 12);
    expect(keepsPruned(withBypassed(a, [[0], []]), a)).toBe(true);
    expect(keepsPruned(allActive(4, 2), a)).toBe(false);
    expect(() => withBypassed(a, [[1], []])).toThrow(/already bypassed/);
    expect(() => withBypassed(a, [[], [1, 2]])).toThrow(/no active channel/);
    expect(() => checkOperators([[0], [2, 1]], 4, 2)).toThrow(/sorted and unique/);
    expect(() => checkOperators([[0], [4]], 4, 2)).toThrow(/out of range/);
    expect(() => checkOperators([[0]], 4, 2)).toThrow(/expected 2 layers/);
  });
});
