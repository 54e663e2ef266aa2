/** S4D state-importance criteria (prune/states): LAST and AIRE against their definitions, the normalisation, the global threshold. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { SequenceModel } from '../../host/src/model/model.js';
import {
  STATE_CRITERIA_LIST,
  chooseStateMasks,
  lastNormalize,
  layerS4DValues,
  s4dStateScores,
  stateScores,
} from '../../host/src/prune/index.js';
import type { S4DValues } from '../../host/src/ssm/s4d/params.js';
import { Rng } from '../../host/src/util/random.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { cabs, cdiv, cexp, cmul, type C } from '../helpers/complex.js';

beforeAll(async () => {
  await initBackend('cpu');
});

/** The criteria straight from their definitions: λ̄ = exp(dt·A), B̄ = (λ̄ − 1)/A, C norm ((|C1| + |C2|)/2)². */
function reference(
  v: S4DValues,
  kind: 'last' | 'aire',
  combineC = (c: number[]) => (c.reduce((a, b) => a + b) / c.length) ** 2,
) {
  const dirs = v.cRe.length / (v.H * v.M);
  const out: number[] = [];
  for (let h = 0; h < v.H; h++) {
    for (let m = 0; m < v.M; m++) {
      const i = h * v.M + m;
      const dt = Math.exp(v.logDt[h]!);
      const A: C = [-Math.exp(v.logAReal[i]!), v.aImag[i]!];
      const lam = cexp(cmul([dt, 0], A));
      const bBar = cdiv([lam[0] - 1, lam[1]], A);
      const c = Array.from({ length: dirs }, (_, d) => cabs([v.cRe[d * v.H * v.M + i]!, v.cIm[d * v.H * v.M + i]!]));
      const r = cabs(lam);
      const gap = kind === 'last' ? (1 - r) ** 2 : 1 - r * r;
      out.push((combineC(c) * cabs(bBar) ** 2) / gap);
    }
  }
  return out;
}

/** Random parameters with dt·|Re A| ≥ 2e-3, where the naive reference above still holds ~13 digits. */
function randomValues(H: number, M: number, dirs: 1 | 2, seed: number): S4DValues {
  const rng = new Rng(seed);
  const f = (n: number, g: () => number) => Float64Array.from({ length: n }, g);
  return {
    H,
    M,
    logDt: f(H, () => rng.uniform(Math.log(0.01), Math.log(0.2))),
    logAReal: f(H * M, () => rng.uniform(Math.log(0.2), Math.log(3))),
    aImag: f(H * M, () => rng.uniform(-20, 20)),
    cRe: f(dirs * H * M, () => rng.normal()),
    cIm: f(dirs * H * M, () => rng.normal()),
  };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i]! - want[i]!) / Math.abs(want[i]!), `index ${i}`).toBeLessThanOrEqual(rel);
  }
}

describe('LAST and AIRE state scores', () => {
  it.each([
    ['last', 1],
    ['last', 2],
    ['aire', 1],
    ['aire', 2],
  ] as const)('%s with %i direction(s) matches its definition to 1e-12', (kind, dirs) => {
    for (const seed of [1, 2, 3]) {
      const v = randomValues(5, 7, dirs, seed);
      expectClose(s4dStateScores(v, kind), reference(v, kind), 1e-12);
    }
  });

  it('combines bidirectional C as ((|C1| + |C2|)/2)², not (|C1| + |C2|)/2²', () => {
    const v = randomValues(3, 4, 2, 7);
    const precedenceSlip = (c: number[]) => (c[0]! + c[1]!) / 2 ** 2;
    const mean = (c: number[]) => ((c[0]! + c[1]!) / 2) ** 2;
    const got = s4dStateScores(v, 'last');
    expectClose(got, reference(v, 'last', mean), 1e-12);
    const slip = reference(v, 'last', precedenceSlip);
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - slip[i]!) / slip[i]!).toBeGreaterThan(1e-3);

    // Hand case: |C1| = 5, |C2| = 1 → factor 9 over the single-direction |C|² = 1 (the slip gives 1.5).
    const one = {
      H: 1,
      M: 1,
      logDt: Float64Array.of(Math.log(0.05)),
      logAReal: Float64Array.of(Math.log(0.5)),
      aImag: Float64Array.of(2),
    };
    const unit = s4dStateScores({ ...one, cRe: Float64Array.of(1), cIm: Float64Array.of(0) }, 'aire')[0]!;
    const both = s4dStateScores({ ...one, cRe: Float64Array.of(3, 1), cIm: Float64Array.of(4, 0) }, 'aire');
    expect(both[0]! / unit).toBeCloseTo(9, 12);
    // Equal directions give the causal score.
    const same = s4dStateScores({ ...one, cRe: Float64Array.of(0.6, 0.6), cIm: Float64Array.of(0.8, 0.8) }, 'aire');
    expect(same[0]! / unit).toBeCloseTo(1, 12);
  });

  it('keeps its precision when dt·|A| is tiny (no 1 − |λ̄| cancellation)', () => {
    // dt = 1e-12: B̄ → dt, 1 − |λ̄| → dt·|Re A|, so LAST → |C|²/(Re A)² and AIRE → |C|²·dt/(2|Re A|).
    const v: S4DValues = {
      H: 1,
      M: 2,
      logDt: Float64Array.of(Math.log(1e-12)),
      logAReal: Float64Array.of(Math.log(0.5), Math.log(2)),
      aImag: Float64Array.of(0, 3),
      cRe: Float64Array.of(1, 2),
      cIm: Float64Array.of(0, 0),
    };
    const dt = Math.exp(v.logDt[0]!);
    expectClose(s4dStateScores(v, 'last'), [1 / 0.25, 4 / 4], 1e-9);
    expectClose(s4dStateScores(v, 'aire'), [(1 * dt) / (2 * 0.5), (4 * dt) / (2 * 2)], 1e-9);
  });

  it('model-level scores read each layer of the model (causal and bidirectional)', () => {
    for (const bidirectional of [false, true]) {
      const model = new SequenceModel(tinyConfig({ dModel: 4, dState: 6, nLayers: 2, bidirectional }), 3);
      for (const kind of ['last', 'aire'] as const) {
        const s = stateScores(model, kind);
        expect(s).toHaveLength(2);
        s.forEach((layer, i) => expectClose(layer, reference(layerS4DValues(model, i), kind), 1e-12));
      }
      model.params.dispose();
    }
  });

  it('lists last, aire and random; random is seeded and uniform in [0, 1)', () => {
    expect(STATE_CRITERIA_LIST.map((c) => c.name)).toEqual(['last', 'aire', 'random']);
    const model = new SequenceModel(tinyConfig(), 0);
    const a = stateScores(model, 'random', 5);
    expect(stateScores(model, 'random', 5)).toEqual(a);
    expect(stateScores(model, 'random', 6)).not.toEqual(a);
    expect(a[0]).not.toEqual(a[1]);
    for (const layer of a) for (const s of layer) expect(s >= 0 && s < 1).toBe(true);
    expect(() => stateScores(model, 'nope')).toThrow(/unknown criterion "nope"; known: last, aire, random/);
    model.params.dispose();
  });

  it('refuses S4, explaining the coupled DPLR modes', () => {
    const model = new SequenceModel(tinyConfig({ ssm: 's4' }), 0);
    for (const run of [() => stateScores(model, 'last'), () => chooseStateMasks(model, 0.5)]) {
      expect(run).toThrow(/state pruning is S4D only/);
      expect(run).toThrow(/A = Λ − PQ\*/);
      expect(run).toThrow(/cannot be removed without changing the others/);
      expect(run).toThrow(/S4D model/);
    }
    model.params.dispose();
  });
});

describe('LAST normalisation', () => {
  it('divides by the sum of the scores at least as large (hand example)', () => {
    // Sorted 4, 3, 2, 1: running sums 4, 7, 9, 10.
    expectClose(lastNormalize([4, 1, 3, 2]), [1, 1 / 10, 3 / 7, 2 / 9], 1e-15);
    // Ties: ranked by index, so the first of two maxima is 1.
    expectClose(lastNormalize([2, 1, 2]), [1, 1 / 5, 1 / 2], 1e-15);
    expect(Array.from(lastNormalize([0, 0]))).toEqual([0, 0]);
    expect(() => lastNormalize([1, -1])).toThrow(/finite and ≥ 0/);
    expect(() => lastNormalize([1, Infinity])).toThrow(/finite and ≥ 0/);
  });

  it('puts each layer largest at 1 and keeps the order', () => {
    const model = new SequenceModel(tinyConfig({ dModel: 5, dState: 8, nLayers: 3 }), 2);
    for (const layer of stateScores(model, 'last')) {
      const n = lastNormalize(layer);
      const top = layer.indexOf(Math.max(...layer));
      expect(n[top]).toBe(1);
      const order = Array.from(layer.keys()).sort((a, b) => layer[b]! - layer[a]!);
      for (let k = 1; k < order.length; k++) expect(n[order[k]!]!).toBeLessThanOrEqual(n[order[k - 1]!]!);
      // Scale-free: a layer's scores times 1e6 normalise the same.
      expectClose(lastNormalize(layer.map((s) => s * 1e6)), n, 1e-12);
    }
    model.params.dispose();
  });
});

/** Modes pruned among a layer's active channels. */
function prunedAmongActive(mask: Uint8Array, active: ArrayLike<number>, M: number): number {
  let n = 0;
  for (const h of Array.from(active)) for (let m = 0; m < M; m++) n += mask[h * M + m] === 0 ? 1 : 0;
  return n;
}

describe('global state threshold', () => {
  it('prunes the globally lowest normalised scores (hand example)', () => {
    // M = 2, H = 2 per layer. Layer 0 normalised: [1, 1/10, 3/7, 2/9]; layer 1: [1/3, 1/4, 1, 0].
    const scores = [Float64Array.of(4, 1, 3, 2), Float64Array.of(1, 1, 2, 0)];
    const active = [
      [0, 1],
      [0, 1],
    ];
    const r = chooseStateMasks({ scores, active, M: 2 }, 3 / 8);
    expect(r).toMatchObject({ pruned: 3, requested: 3, total: 8 });
    expect(Array.from(r.masks[0]!)).toEqual([1, 0, 1, 0]);
    expect(Array.from(r.masks[1]!)).toEqual([1, 1, 1, 0]);
  });

  it('prunes round(fraction × modes of active channels), bypassed channels left out', () => {
    const model = new SequenceModel(tinyConfig({ dModel: 8, dState: 8, nLayers: 3 }), 4);
    model.setActive(0, [0, 2, 3, 5, 6, 7]);
    model.setActive(2, [1, 4]);
    const M = 4;
    const total = (6 + 8 + 2) * M;
    for (const criterion of ['last', 'aire', 'random']) {
      for (const fraction of [0, 0.1, 0.25, 1 / 3, 0.5, 0.8]) {
        const r = chooseStateMasks(model, fraction, { criterion, seed: 1 });
        expect(r.total).toBe(total);
        expect(r.requested).toBe(Math.round(fraction * total));
        expect(r.pruned).toBe(r.requested);
        let n = 0;
        r.masks.forEach((mask, i) => {
          expect(mask).toHaveLength(8 * M);
          n += prunedAmongActive(mask, model.active(i), M);
          // Bypassed channels' entries stay as they were (all kept).
          for (let h = 0; h < 8; h++) {
            if (!model.active(i).includes(h)) for (let m = 0; m < M; m++) expect(mask[h * M + m]).toBe(1);
          }
        });
        expect(n).toBe(r.pruned);
      }
    }
    // The pruned are the lowest: every pruned normalised score ≤ every kept one.
    const scores = stateScores(model, 'last');
    const { masks } = chooseStateMasks(model, 0.4);
    let maxPruned = -Infinity;
    let minKept = Infinity;
    scores.forEach((layer, i) => {
      const act = Array.from(model.active(i));
      const idx = act.flatMap((h) => Array.from({ length: M }, (_, m) => h * M + m));
      const norm = lastNormalize(idx.map((k) => layer[k]!));
      idx.forEach((k, j) => {
        if (masks[i]![k] === 0) maxPruned = Math.max(maxPruned, norm[j]!);
        else minKept = Math.min(minKept, norm[j]!);
      });
    });
    expect(maxPruned).toBeLessThanOrEqual(minKept);
    model.params.dispose();
  });

  it('is cumulative: prior masks stay pruned and count toward the fraction', () => {
    const model = new SequenceModel(tinyConfig({ dModel: 6, dState: 8, nLayers: 2 }), 5);
    model.setActive(1, [0, 1, 2, 4]);
    const total = (6 + 4) * 4;
    const first = chooseStateMasks(model, 0.3);
    expect(first.pruned).toBe(12);
    // A prior mask on a high-scoring mode stays pruned too.
    const scores = stateScores(model, 'last');
    const top = scores[0]!.indexOf(Math.max(...scores[0]!));
    const prior = first.masks.map((m) => Uint8Array.from(m));
    expect(first.masks[0]![top]).toBe(1);
    prior[0]![top] = 0;
    const already = prior.reduce((n, m, i) => n + prunedAmongActive(m, model.active(i), 4), 0);
    const second = chooseStateMasks(model, 0.5, { masks: prior });
    expect(second.pruned).toBe(Math.round(0.5 * total));
    expect(second.requested).toBe(20);
    prior.forEach((m, i) => m.forEach((k, j) => k === 0 && expect(second.masks[i]![j]).toBe(0)));
    const now = second.masks.reduce((n, m, i) => n + prunedAmongActive(m, model.active(i), 4), 0);
    expect(now).toBe(20);
    // The input masks are not modified.
    expect(prunedAmongActive(prior[0]!, model.active(0), 4) + prunedAmongActive(prior[1]!, model.active(1), 4)).toBe(
      already,
    );
    // Asking for less than is already pruned is an error.
    expect(() => chooseStateMasks(model, 0.1, { masks: second.masks })).toThrow(/already pruned, more than the 4/);
    model.params.dispose();
  });

  it('keeps at least one mode in every layer with an active channel', () => {
    const model = new SequenceModel(tinyConfig({ dModel: 4, dState: 6, nLayers: 3 }), 6);
    model.setActive(1, [2]);
    model.setActive(2, []);
    const M = 3;
    const r = chooseStateMasks(model, 1);
    expect(r.total).toBe((4 + 1) * M);
    expect(r.requested).toBe(15);
    expect(r.pruned).toBe(15 - 2);
    expect(M - prunedAmongActive(r.masks[1]!, [2], M)).toBe(1);
    expect(4 * M - prunedAmongActive(r.masks[0]!, [0, 1, 2, 3], M)).toBe(1);
    // A layer of one channel with one mode cannot lose it.
    const one = chooseStateMasks(
      { scores: [Float64Array.of(1), Float64Array.of(5, 3)], active: [[0], [0, 1]], M: 1 },
      1,
    );
    expect(one).toMatchObject({ pruned: 1, requested: 3, total: 3 });
    expect(Array.from(one.masks[0]!)).toEqual([1]);
    expect(Array.from(one.masks[1]!)).toEqual([1, 0]);
    model.params.dispose();
  });

  it('breaks ties by layer, then index', () => {
    const scores = [Float64Array.of(1, 1, 1), Float64Array.of(1, 1, 1)];
    const r = chooseStateMasks({ scores, active: [[0], [0]], M: 3 }, 2 / 6);
    // Normalised per layer [1, 1/2, 1/3]: the two 1/3 go, layer 0's first.
    expect(Array.from(r.masks[0]!)).toEqual([1, 1, 0]);
    expect(Array.from(r.masks[1]!)).toEqual([1, 1, 0]);
    const r1 = chooseStateMasks({ scores, active: [[0], [0]], M: 3 }, 1 / 6);
    expect(Array.from(r1.masks[0]!)).toEqual([1, 1, 0]);
    expect(Array.from(r1.masks[1]!)).toEqual([1, 1, 1]);
  });

  it('rejects bad input', () => {
    const scores = [Float64Array.of(1, 2)];
    expect(() => chooseStateMasks({ scores, active: [[0]], M: 2 }, 1.5)).toThrow(/fraction must be in \[0, 1\]/);
    expect(() => chooseStateMasks({ scores, active: [[0]], M: 3 }, 0.5)).toThrow(/not a multiple of M = 3/);
    expect(() => chooseStateMasks({ scores, active: [[0]], M: 2 }, 0.5, { masks: [Uint8Array.of(0, 0)] })).toThrow(
      /prunes every mode/,
    );
  });
});

describe('balanced layout', () => {
  it('every active channel of a layer keeps the same count, its highest-scored modes; cumulative', () => {
    const M = 4;
    const rng = new Rng(21);
    // Two layers of 5 channels; layer 1's channel 2 bypassed.
    const scores = [0, 1].map(() => Float64Array.from({ length: 5 * M }, () => rng.uniform(0, 1)));
    const active = [
      [0, 1, 2, 3, 4],
      [0, 1, 3, 4],
    ];
    const layers = { scores, active, M };
    const free = chooseStateMasks(layers, 0.5);
    const r = chooseStateMasks(layers, 0.5, { layout: 'balanced' });
    r.masks.forEach((mask, l) => {
      let keptByThreshold = 0;
      for (const h of active[l]!) for (let m = 0; m < M; m++) keptByThreshold += free.masks[l]![h * M + m]!;
      const k = Math.max(1, Math.round(keptByThreshold / active[l]!.length));
      for (const h of active[l]!) {
        const kept = Array.from({ length: M }, (_, m) => m).filter((m) => mask[h * M + m]);
        expect(kept.length, `layer ${l} channel ${h}`).toBe(k);
        // The kept ones are the channel's k highest scores.
        const best = Array.from({ length: M }, (_, m) => m)
          .sort((a, b) => scores[l]![h * M + b]! - scores[l]![h * M + a]!)
          .slice(0, k)
          .sort();
        expect(kept).toEqual(best);
      }
    });
    // The bypassed channel's modes are untouched.
    expect(Array.from(r.masks[1]!.subarray(2 * M, 3 * M))).toEqual([1, 1, 1, 1]);
    expect(r.pruned).toBe(
      r.masks.reduce(
        (a, mask, l) =>
          a + active[l]!.reduce((b, h) => b + M - mask.subarray(h * M, (h + 1) * M).reduce((x, v) => x + v, 0), 0),
        0,
      ),
    );
    // Cumulative: from these masks to 75 %, nothing pruned comes back.
    const more = chooseStateMasks(layers, 0.75, { layout: 'balanced', masks: r.masks });
    more.masks.forEach((mask, l) => mask.forEach((v, i) => expect(v <= r.masks[l]![i]!).toBe(true)));
    expect(more.pruned).toBeGreaterThan(r.pruned);
  });
});
