/**
 * The search on a tiny model and the adding problem, with a real SQLite store and the FLOP estimate as cost
 * (the agent path is covered by the integration test): the S4oP rules hold across steps, a failure mid-run
 * followed by a resume ends with exactly the candidates of an uninterrupted run, nothing twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import type { Dataset } from '../../host/src/data/dataset.js';
import { StoreSplit, classCounts, type ExampleStore } from '../../host/src/data/store.js';
import { loadCheckpoint, saveCheckpoint } from '../../host/src/model/checkpoint.js';
import { train } from '../../host/src/train/trainer.js';
import { Rng } from '../../host/src/util/random.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { s4opAllocation, targetBypassed } from '../../host/src/prune/allocation.js';
import {
  FlopEstimate,
  forwardFlops,
  type CostMeasurer,
  type PrepareOptions,
  type PreparedModel,
} from '../../host/src/prune/cost/cost.js';
import { parseCriteria } from '../../host/src/prune/criteria/index.js';
import { kernelScores } from '../../host/src/prune/importance.js';
import { bypassedCounts, bypassedOf, keepsPruned } from '../../host/src/prune/operators.js';
import { candidateRows, formatTable, toCsv } from '../../host/src/prune/report.js';
import { S4OP_FINETUNE, runSearch, type SearchOptions } from '../../host/src/prune/search.js';
import { RunStore } from '../../host/src/store/run-store.js';
import { renderRunReport } from '../../host/src/report/index.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-search-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const L = 24;

/** A task a tiny model learns in a few dozen steps: the class is where the sequence's mean lies (3 bins). */
function meanTask(counts: { train: number; val: number; test: number }): Dataset {
  const count = counts.train + counts.val + counts.test;
  const rng = new Rng(4);
  const x = new Float32Array(count * L * 2);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = rng.int(3);
    y[i] = c;
    for (let t = 0; t < L; t++) {
      x[(i * L + t) * 2] = (c - 1) * 0.6 + rng.normal();
      x[(i * L + t) * 2 + 1] = rng.normal();
    }
  }
  const store: ExampleStore = {
    count,
    length: L,
    inputSize: 2,
    inputKind: 'continuous',
    x,
    numClasses: 3,
    multiLabel: false,
    y,
  };
  const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, k) => a + k);
  const idx = {
    train: range(0, counts.train),
    val: range(counts.train, counts.train + counts.val),
    test: range(counts.train + counts.val, count),
  };
  return {
    info: {
      name: 'mean',
      length: L,
      inputKind: 'continuous',
      inputSize: 2,
      numClasses: 3,
      multiLabel: false,
      splits: counts,
      classBalance: {
        train: classCounts(store, idx.train),
        val: classCounts(store, idx.val),
        test: classCounts(store, idx.test),
      },
      spec: { source: 'mean-task' },
    },
    train: new StoreSplit(store, idx.train),
    val: new StoreSplit(store, idx.val),
    test: new StoreSplit(store, idx.test),
  };
}

const data = meanTask({ train: 96, val: 48, test: 48 });
const H = 6;
const base = path.join(dir, 'base');
const config = tinyConfig({ dModel: H, dState: 4, nLayers: 3, inputSize: 2, numClasses: 3 });

beforeAll(async () => {
  await initBackend('cpu');
  const model = new SequenceModel(config, 1);
  train(model, data, { epochs: 6, batchSize: 16, lr: 1e-2, lrSsm: 1e-2, patience: 0, quiet: true });
  await saveCheckpoint(base, model, { dataset: { name: 'mean', spec: data.info.spec } });
  model.dispose();
});

const options = (over: Partial<SearchOptions> = {}): SearchOptions => ({
  strategy: 's4op',
  criteria: parseCriteria('random'),
  allocation: 's4op',
  rates: [30, 60],
  seeds: 2,
  seed: 0,
  fineTune: { ...S4OP_FINETUNE, epochs: 1, maxSteps: 2, batchSize: 8 },
  taylorBatches: 1,
  ...over,
});

let n = 0;
function setup(measurer: CostMeasurer = new FlopEstimate({ mode: 'conv', length: L })) {
  const ws = path.join(dir, `ws${n++}`);
  const store = RunStore.openWorkspace(ws);
  const run = store.createRun({ id: 'r', strategy: 's4op', base_checkpoint: base, dataset: {}, config: {} });
  const lines: string[] = [];
  const finished: number[] = [];
  const env = {
    store,
    runId: run.id,
    dir: path.join(ws, 'runs', run.id),
    baseCheckpoint: base,
    data,
    measurer,
    quiet: true,
    log: (l: string) => lines.push(l),
    onCandidate: (c: { id: number }) => finished.push(c.id),
  };
  return { store, env, lines, finished };
}

/** Counts measure() and measurePair() calls; fails (like a killed process) at call number `failAt`. */
class CountingEstimate implements CostMeasurer {
  readonly kind = 'estimate' as const;
  readonly agent = 'estimate:flops';
  private readonly inner: FlopEstimate;
  readonly settings: Record<string, unknown>;
  calls = 0;
  constructor(
    private readonly failAt = Infinity,
    mode: 'conv' | 'step' = 'conv',
  ) {
    this.inner = new FlopEstimate({ mode, length: L });
    this.settings = this.inner.settings;
  }
  prepare(model: SequenceModel, name: string, opts?: PrepareOptions) {
    return this.inner.prepare(model, name, opts);
  }
  async measure(p: PreparedModel) {
    if (++this.calls === this.failAt) throw new Error('simulated crash');
    return this.inner.measure(p);
  }
  async measurePair(reference: PreparedModel, p: PreparedModel) {
    if (++this.calls === this.failAt) throw new Error('simulated crash');
    return this.inner.measurePair(reference, p);
  }
  async close() {}
}

const shape = (store: RunStore) =>
  store.candidates('r').map((c) => ({
    step: c.step,
    seed: c.seed,
    active: c.active_operators,
    val: c.val_metric,
    chosen: c.chosen,
    hash: c.model_sha256,
  }));

describe('runSearch (s4op, random choice)', () => {
  let reference: ReturnType<typeof shape>;

  it('follows the rules: allocation per step, best by validation carried forward, pruned stays pruned', async () => {
    const { store, env, lines } = setup();
    const res = await runSearch(env, options());
    expect(res.status).toBe('finished');
    expect(res.stop_reason).toBe('last rate');
    const cands = store.candidates('r');
    expect(cands.map((c) => [c.step, c.seed, c.status])).toEqual([
      [0, 0, 'finished'],
      [1, 0, 'finished'],
      [1, 1, 'finished'],
      [2, 0, 'finished'],
      [2, 1, 'finished'],
    ]);
    const chosen = (k: number) => cands.find((c) => c.step === k && c.chosen)!;
    for (const k of [1, 2]) {
      const step = cands.filter((c) => c.step === k);
      expect(step.filter((c) => c.chosen)).toHaveLength(1);
      expect(chosen(k).val_metric).toBe(Math.max(...step.map((c) => c.val_metric!)));
      const parent = chosen(k - 1);
      const prev = bypassedCounts(parent.active_operators!, H);
      for (const c of step) {
        expect(c.parent_id).toBe(parent.id);
        expect(keepsPruned(c.active_operators!, parent.active_operators!)).toBe(true);
        // Counts per layer from the rule with the parent's counts as floors (3 layers, H = 6).
        expect(bypassedCounts(c.active_operators!, H)).toEqual(
          s4opAllocation(H, 3, targetBypassed([30, 60][k - 1]!, H, 3), prev),
        );
      }
    }
    // 30 % of 18 = round(5.4) = 5 → layers 1, 2 by 2 : 4 → 1.67, 3.33 → [0, 2, 3]; 60 % → 11 → [1, 5, 5].
    expect(bypassedCounts(chosen(1).active_operators!, H)).toEqual([0, 2, 3]);
    expect(bypassedCounts(chosen(2).active_operators!, H)).toEqual([1, 5, 5]);
    // Two random seeds choose different channels.
    expect(cands[1]!.active_operators).not.toEqual(cands[2]!.active_operators);
    expect(res.final.id).toBe(chosen(2).id);
    expect(store.getRun('r')).toMatchObject({ status: 'finished', stop_reason: 'last rate' });
    expect(lines.some((l) => /step 1 \(30%\) seed 0: 5 of 18 operators bypassed, per layer \[0, 2, 3\]/.test(l))).toBe(
      true,
    );
    // Estimates are labelled as such, in the store and in the table.
    expect(store.measurementById(chosen(2).measurement_id!)!.kind).toBe('estimate');
    const rows = candidateRows(store, 'r');
    expect(formatTable(rows)).toContain('* estimated from an operation count, not measured');
    expect(toCsv(rows).split('\n')[0]).toContain('val_metric');
    expect(toCsv(rows).trim().split('\n')).toHaveLength(6);
    reference = shape(store);
    store.close();
  });

  it('a crash mid-run, then a resume: the same candidates, each fine-tuned and measured once', async () => {
    const crash = new CountingEstimate(4);
    const a = setup(crash);
    await expect(runSearch(a.env, options())).rejects.toThrow(/simulated crash/);
    const before = a.store.candidates('r');
    // Base and the first two candidates finished; the third was running when it failed.
    expect(before.map((c) => c.status)).toEqual(['finished', 'finished', 'finished', 'running']);
    const finishedAt = before.filter((c) => c.status === 'finished').map((c) => c.finished_at);
    const again = new CountingEstimate();
    const res = await runSearch({ ...a.env, measurer: again, onCandidate: (c) => a.finished.push(c.id) }, options());
    expect(res.status).toBe('finished');
    expect(shape(a.store)).toEqual(reference);
    // Only the two unfinished candidates were measured again; the earlier ones kept their records.
    expect(again.calls).toBe(2);
    expect(
      a.store
        .candidates('r')
        .slice(0, 3)
        .map((c) => c.finished_at),
    ).toEqual(finishedAt);
    expect(a.store.measurementCount()).toBe(new Set(reference.map((c) => c.hash)).size);
    expect(a.lines.filter((l) => /finished earlier/.test(l))).toHaveLength(2);
    // Resuming a finished run does nothing more.
    const third = new CountingEstimate();
    const seen = a.finished.length;
    await runSearch({ ...a.env, measurer: third }, options());
    expect(third.calls).toBe(0);
    expect(a.finished.length).toBe(seen);
    a.store.close();
  });

  it('stops at the accuracy limit and keeps the last candidate within it', async () => {
    // From the uninterrupted run: the chosen candidates' drops below the base at 30 % and 60 %.
    const val = (k: number) => reference.find((c) => c.step === k && c.chosen)!.val!;
    const drop1 = 100 * (val(0) - val(1));
    const drop2 = 100 * (val(0) - val(2));
    expect(drop2).toBeGreaterThan(drop1); // the fixture prunes into the accuracy at 60 %
    const { store, env } = setup();
    const res = await runSearch(env, options({ maxDrop: (drop1 + drop2) / 2 }));
    expect(res.status).toBe('stopped');
    expect(res.stop_reason).toMatch(/^max-drop: validation metric [\d.]+ points below the base at 60%/);
    expect(res.final.step).toBe(1);
    expect(store.getRun('r')).toMatchObject({ status: 'stopped', summary: { final_candidate: res.final.id } });
    store.close();
  });

  it('stops once the latency budget is met', async () => {
    const { store, env } = setup();
    const m = new SequenceModel(config, 1);
    const full = forwardFlops(m, 'conv', L) / 1e6;
    m.dispose();
    // Any pruning brings the estimate under the full model's: the first step meets the budget.
    const res = await runSearch(env, options({ budgetMs: full * 0.999, seeds: 1 }));
    expect(res.status).toBe('stopped');
    expect(res.stop_reason).toMatch(/^budget: ratio 0\.\d+ to the base ≤ budget [\d.]+ ms = 0\.999× base/);
    expect(res.final.step).toBe(1);
    expect(store.candidates('r').map((c) => c.step)).toEqual([0, 1]);
    store.close();
  });

  it('steering: the cost model fitted to the measurements picks the least rate that meets the budget', async () => {
    // Step-mode FLOP estimate: exactly linear in the number of active operators, so two points fit it exactly.
    const est = new FlopEstimate({ mode: 'step', length: L });
    const { store, env, lines } = setup(est);
    const m = new SequenceModel(config, 1);
    // The budget is the estimate with 9 of 18 operators bypassed ([0, 4, 5] by the rule; only the count matters).
    m.setActive(1, [0, 1]);
    m.setActive(2, [0]);
    // (A hair above it: the fitted line reproduces it only to rounding.)
    const budget = (forwardFlops(m, 'step', L) / 1e6) * (1 + 1e-9);
    m.dispose();
    const res = await runSearch(env, options({ rates: [30, 90], seeds: 1, budgetMs: budget, steer: true }));
    // round(r·18/100) first reaches 9 at r = 48 (47 → 8.46 → 8, 48 → 8.64 → 9), on the 5 % grid 50 %: step 2
    // goes to 50 %, not 90 %.
    const c = store.candidates('r');
    expect(c.map((x) => [x.step, x.rate])).toEqual([
      [0, 0],
      [1, 30],
      [2, 50],
    ]);
    expect(18 - c[2]!.operators_active!).toBe(9);
    expect(res.stop_reason).toMatch(/^budget: ratio/);
    expect(
      lines.some((l) => /meets the budget [\d.]+ ms = [\d.]+× base .* at 50%: pruning to 50% instead of 90%/.test(l)),
    ).toBe(true);
    await expect(runSearch(env, options({ steer: true }))).rejects.toThrow(/needs a latency budget/);
    store.close();
  });

  it('importance strategy with score-following allocation: the globally lowest normalised energies go', async () => {
    const { store, env } = setup();
    await runSearch(
      env,
      options({
        strategy: 'importance',
        criteria: parseCriteria('energy'),
        allocation: 'scores',
        seeds: 1,
        rates: [50],
      }),
    );
    const c = store.candidates('r').find((x) => x.step === 1)!;
    // Expected by hand: energy Σ K² per channel of the base, divided by its layer's mean; the 9 lowest over all
    // layers, never a layer's highest.
    const { model } = await loadCheckpoint(base);
    const e = kernelScores(model, L, 'energy');
    model.dispose();
    const pool = e.flatMap((layer, i) => {
      const mean = layer.reduce((a, b) => a + b, 0) / layer.length;
      const top = layer.indexOf(Math.max(...layer));
      return layer.map((v, h) => ({ i, h, v: v / mean })).filter((p) => p.h !== top);
    });
    pool.sort((a, b) => a.v - b.v);
    const want = [0, 1, 2].map((i) =>
      pool
        .slice(0, 9)
        .filter((p) => p.i === i)
        .map((p) => p.h)
        .sort((a, b) => a - b),
    );
    expect(bypassedOf(c.active_operators!, H)).toEqual(want);
    store.close();
  });

  it('bad options are named', async () => {
    const { env, store } = setup();
    await expect(runSearch(env, options({ rates: [50, 30] }))).rejects.toThrow(/increase strictly/);
    await expect(runSearch(env, options({ seeds: 0 }))).rejects.toThrow(/seeds per rate/);
    await expect(runSearch(env, options({ allocation: 'scores' }))).rejects.toThrow(/non-random criterion/);
    store.close();
  });
});

describe('runSearch over axes (operators and states; the FLOP estimate in step mode, which counts kept modes)', () => {
  const joint = (over: Partial<SearchOptions> = {}) =>
    options({ axes: ['operators', 'states'], rates: [30, 60], stateRates: [50], seeds: 1, ...over });
  const path3 = (store: RunStore) =>
    store
      .candidates('r')
      .filter((c) => c.chosen)
      .map((c) => [c.step, c.axis, c.rate, c.state_rate]);
  let reference: ReturnType<typeof shape>;
  let refPath: ReturnType<typeof path3>;

  it('proposes every axis each step, moves along one, records the axis, keeps pruned states pruned', async () => {
    const { store, env, lines } = setup(new FlopEstimate({ mode: 'step', length: L }));
    const res = await runSearch(env, joint());
    expect(res.status).toBe('finished');
    expect(res.stop_reason).toBe('every axis is at the end of its schedule');
    const cands = store.candidates('r');
    // Step 1 tries operators at 30 % (slot 0) and states at 50 % (slot 100).
    expect(cands.filter((c) => c.step === 1).map((c) => [c.seed, c.axis, c.rate, c.state_rate])).toEqual([
      [0, 'operators', 30, 0],
      [100, 'states', 0, 50],
    ]);
    const chosen = cands.filter((c) => c.chosen).sort((a, b) => a.step - b.step);
    // Three moves (two operator rates, one state rate) in some order: both axes taken, each schedule to its end.
    expect(
      chosen
        .map((c) => c.axis)
        .slice(1)
        .sort(),
    ).toEqual(['operators', 'operators', 'states']);
    const last = chosen[chosen.length - 1]!;
    expect([last.rate, last.state_rate]).toEqual([60, 50]);
    // Each move from its parent: states pruned before stay pruned, operators bypassed before stay bypassed.
    for (let k = 1; k < chosen.length; k++) {
      const [prev, cur] = [chosen[k - 1]!, chosen[k]!];
      expect(cur.parent_id).toBe(prev.id);
      expect(keepsPruned(cur.active_operators!, prev.active_operators!)).toBe(true);
      const a = await loadCheckpoint(prev.checkpoint!);
      const b = await loadCheckpoint(cur.checkpoint!);
      a.model.prunedStates().forEach((l, i) => expect(b.model.prunedStates()[i]).toEqual(expect.arrayContaining(l)));
      a.model.dispose();
      b.model.dispose();
    }
    // The states candidate pruned half of the active channels' modes.
    const st = chosen.find((c) => c.axis === 'states')!;
    const { model } = await loadCheckpoint(st.checkpoint!);
    const M = config.dState / 2;
    const activeModes = model.activeOperators().reduce((a, l) => a + l.length, 0) * M;
    const prunedActive = model
      .prunedStates()
      .reduce((a, l, i) => a + l.filter((j) => model.active(i).includes(Math.floor(j / M))).length, 0);
    expect(prunedActive / activeModes).toBeGreaterThanOrEqual(0.49);
    model.dispose();
    expect(lines.some((l) => /per point/.test(l))).toBe(true);
    const rows = candidateRows(store, 'r');
    expect(formatTable(rows).split('\n')[0]).toMatch(/axis .* states% +prec/);
    expect(toCsv(rows).split('\n')[0]).toContain('axis,precision,state_rate');
    // The report's path through the axes: one row per chosen step, base first, each with its axis.
    const { html } = await renderRunReport(store, 'r');
    const table = html.slice(html.indexOf('<table id="axis-path">'));
    expect(table.length).toBeGreaterThan(0);
    const steps = [
      ...table
        .slice(0, table.indexOf('</table>'))
        .matchAll(/<tr data-step="(\d+)"><td>\d+<\/td><td class="l">([a-z0-9]+)</g),
    ];
    expect(steps.map((m) => [Number(m[1]), m[2]])).toEqual(chosen.map((c) => [c.step, c.step === 0 ? 'base' : c.axis]));
    reference = shape(store);
    refPath = path3(store);
    expect(res.final.step).toBeGreaterThan(0);
    store.close();
  });

  it('a crash mid-run, then a resume: the same candidates and path', async () => {
    const crash = new CountingEstimate(4, 'step');
    const a = setup(crash);
    await expect(runSearch(a.env, joint())).rejects.toThrow(/simulated crash/);
    const again = new CountingEstimate(Infinity, 'step');
    const res = await runSearch({ ...a.env, measurer: again }, joint());
    expect(res.status).toBe('finished');
    expect(shape(a.store)).toEqual(reference);
    expect(path3(a.store)).toEqual(refPath);
    a.store.close();
  });

  it('a point no faster than its parent is not the end: the next step goes past it from the same parent', async () => {
    // d_state 4 (two modes): 1 % of the states prunes nothing under the balanced layout, so the estimate
    // sees the parent's work again; 50 % prunes one mode per channel.
    const { store, env, lines } = setup(new FlopEstimate({ mode: 'step', length: L }));
    const res = await runSearch(env, joint({ axes: ['states'], stateRates: [1, 50] }));
    const cands = store.candidates('r').filter((c) => c.step > 0);
    expect(cands.map((c) => [c.step, c.state_rate, c.parent_id, c.chosen])).toEqual([
      [1, 1, res.base.id, false],
      [2, 50, res.base.id, true],
    ]);
    expect(lines.some((l) => /step 1: no move; from the same parent, states go one point further/.test(l))).toBe(true);
    expect(res.stop_reason).toBe('every axis is at the end of its schedule');
    expect(res.final.state_rate).toBe(50);
    store.close();
  });

  it('refuses steering with several axes, and unknown axes', async () => {
    const { store, env } = setup();
    await expect(runSearch(env, joint({ steer: true, budgetRatio: 0.5 }))).rejects.toThrow(/--axes operators only/);
    await expect(runSearch(env, joint({ axes: ['operators', 'bogus' as never] }))).rejects.toThrow(
      /unknown axis "bogus"/,
    );
    store.close();
  });
});
