/**
 * The search's paired measurements against a real local agent process: every candidate is timed
 * interleaved with the base in one A/B job, and a candidate that measures slower than its parent beyond the
 * intervals is measured again and flagged when it persists. The slow candidate is made slow on purpose: the
 * measurer sends a much heavier ONNX model in its place, so the agent's real timings say "slower".
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { reloadDataset } from '../../host/src/data/dataset.js';
import { readCheckpointConfig } from '../../host/src/model/checkpoint.js';
import type { SequenceModel } from '../../host/src/model/model.js';
import { AgentMeasurer } from '../../host/src/prune/cost/agent.js';
import type { CostMeasurer, PreparedModel } from '../../host/src/prune/cost/cost.js';
import { parseCriteria } from '../../host/src/prune/criteria/index.js';
import { candidateRows, formatTable } from '../../host/src/prune/report.js';
import { runSearch, S4OP_FINETUNE } from '../../host/src/prune/search.js';
import { RunStore } from '../../host/src/store/run-store.js';
import { sha256Hex } from '../../shared/src/index.js';
import { tmpDir } from '../helpers/fleet.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';
import { killAll, trainTinyListops } from '../helpers/processes.js';

const dir = tmpDir('s4op-paired-');
const ck = path.join(dir, 'base');
const SETTINGS = { min_duration_ms: 100, warmup_ms: 10, warmup_runs: 2, min_samples: 16 };
let agent: AgentMeasurer;

/** A real measurer whose candidate of one step is replaced by a model many times heavier than the base. */
class SlowStep implements CostMeasurer {
  readonly kind = 'measured' as const;
  constructor(
    private readonly inner: AgentMeasurer,
    private readonly slowName: RegExp,
  ) {}
  get agent() {
    return this.inner.agent;
  }
  get settings() {
    return this.inner.settings;
  }
  prepare(model: SequenceModel, name: string): PreparedModel {
    if (!this.slowName.test(name)) return this.inner.prepare(model, name);
    const bytes = mlpModel({ width: 512, layers: 24, seed: 9 });
    return { model_sha256: sha256Hex(bytes), bytes, name: `${name}-slowed.onnx` };
  }
  measure(p: PreparedModel) {
    return this.inner.measure(p);
  }
  measurePair(reference: PreparedModel, p: PreparedModel, attempt: number) {
    return this.inner.measurePair(reference, p, attempt);
  }
  get profileSettings() {
    return this.inner.profileSettings;
  }
  profile(p: PreparedModel) {
    return this.inner.profile(p);
  }
  async close() {}
}

beforeAll(async () => {
  const r = await trainTinyListops(ck, { train: 128, val: 64, test: 64, dModel: 16, epochs: 1 });
  expect(r.code, r.stderr).toBe(0);
  await initBackend('cpu');
  agent = await AgentMeasurer.start({
    mode: 'conv',
    length: 40,
    settings: SETTINGS,
    cacheDir: path.join(dir, 'agent-cache'),
  });
}, 180_000);

afterAll(async () => {
  await agent?.close();
  killAll();
});

describe('paired measurement in the search (real local agent)', () => {
  it('every candidate has a paired ratio; one slower than its parent is measured again and flagged', async () => {
    const data = await reloadDataset((await readCheckpointConfig(ck)).dataset!.spec as Record<string, unknown>);
    const ws = tmpDir('s4op-paired-ws-');
    const store = RunStore.openWorkspace(ws);
    store.createRun({ id: 'p', strategy: 's4op', base_checkpoint: ck, dataset: {}, config: {} });
    const lines: string[] = [];
    const measurer = new SlowStep(agent, /-step1-/);
    const res = await runSearch(
      {
        store,
        runId: 'p',
        dir: path.join(ws, 'runs', 'p'),
        baseCheckpoint: ck,
        data,
        measurer,
        log: (l) => lines.push(l),
        quiet: true,
      },
      {
        strategy: 's4op',
        criteria: parseCriteria('random'),
        allocation: 's4op',
        rates: [30, 60],
        seeds: 1,
        seed: 0,
        taylorBatches: 1,
        fineTune: { ...S4OP_FINETUNE, epochs: 1, maxSteps: 2, batchSize: 16 },
      },
    );
    const [base, step1, step2] = store.candidates('p');
    const baseSha = base!.model_sha256!;
    // Step 1 (the slowed one): two paired jobs against the base, both far above 1, flagged.
    const s1 = store.pairedAttempts(step1!.model_sha256!, baseSha, agent.agent, agent.settings);
    expect(s1.map((m) => m.paired!.attempt)).toEqual([0, 1]);
    for (const m of s1) expect(m.paired!.ratio_low).toBeGreaterThan(1.1);
    expect(step1!.extra!.paired).toMatchObject({
      attempts: 2,
      not_faster_than_parent: true,
      reference_sha256: baseSha,
    });
    expect(
      lines.some((l) =>
        /step 1 \(30%\) seed 0: ratio [\d.]+ .* slower than its parent's \(ratio 1 \(the base\)\) beyond the intervals: measuring again/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(lines.some((l) => /flagged "not faster than its parent"/.test(l))).toBe(true);
    // Step 2 is faster than its (slowed) parent: one job, no flag.
    const s2 = store.pairedAttempts(step2!.model_sha256!, baseSha, agent.agent, agent.settings);
    expect(s2).toHaveLength(1);
    expect(step2!.extra!.paired).toMatchObject({ attempts: 1, not_faster_than_parent: false });
    // The base's pooled p50: its own job plus its side of the three paired jobs.
    expect(store.referenceP50s(baseSha, agent.agent, agent.settings)).toHaveLength(4);
    // The table flags it; the answer is on the front and is not the slowed candidate.
    const rows = candidateRows(store, 'p');
    const table = formatTable(rows);
    expect(table).toMatch(/! step 1 seed 0: not faster than its parent/);
    const final = rows.find((r) => r.final)!;
    expect(final.id).toBe(res.final.id);
    expect(final.pareto).toBe(true);
    expect(final.id).not.toBe(step1!.id);
    expect(rows.find((r) => r.id === step1!.id)!.flags).toContain('not faster than its parent'); // and 'board busy' on a loaded machine
    // The base and the answer were profiled on the agent: time per section of our export and per node type.
    const profiles = (store.getRun('p')!.summary as { profiles: Record<string, number> }).profiles;
    expect(Object.keys(profiles).sort()).toEqual([String(base!.id), String(res.final.id)].sort());
    for (const id of Object.values(profiles)) {
      const m = store.measurementById(id)!;
      expect(m.settings).toMatchObject({ profile: true });
      const figs = (
        m.raw as {
          measurement: {
            models: { profile: { by_section: Record<string, number>; by_op_type: Record<string, number> } }[];
          };
        }
      ).measurement.models[0]!;
      expect(Object.keys(figs.profile.by_section).sort()).toEqual(['mixing', 'norm', 'other', 'ssm']);
      expect(figs.profile.by_op_type.MatMul).toBeGreaterThan(0);
    }
    expect(lines.some((l) => /^base: profiled \(.*ssm \d+ %/.test(l))).toBe(true);
    store.close();
  }, 240_000);
});
