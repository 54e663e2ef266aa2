/**
 * The incremental search. Step 0 records the base model. For each rate of the schedule: the target is
 * allocated over depth (the S4oP rule, or following the scores), channels are chosen by the importance
 * criteria (random under several seeds for `s4op`), each candidate is fine-tuned briefly, evaluated,
 * saved and measured; the best by validation metric is kept and is the starting point of the next rate,
 * so channels pruned earlier stay pruned. Every finished candidate is in the store before the next starts,
 * and a resumed run skips what is finished: nothing is fine-tuned or measured twice.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { loadCheckpoint, readCheckpointConfig, saveCheckpoint } from '../model/checkpoint.js';
import type { SequenceModel } from '../model/model.js';
import type { CandidateRecord, MeasurementRecord, RunStore } from '../store/run-store.js';
import { evaluate, train, type TrainOptions } from '../train/trainer.js';
import { s4opAllocation, scoreAllocation, targetBypassed } from './allocation.js';
import type { CostMeasurer } from './cost.js';
import { chooseBypass, importanceScores, normalizePerLayer, type WeightedCriterion } from './importance.js';
import { activeCount, applyOperators, bypassedCounts, withBypassed } from './operators.js';
import { checkRates } from './schedule.js';
import { fitCostModel, steerRate, type CostPoint } from './cost-model.js';

export type Strategy = 's4op' | 'importance';
export const STRATEGIES: readonly Strategy[] = ['s4op', 'importance'];

export interface SearchOptions {
  strategy: Strategy;
  /** Which channels: `random` for s4op; any weighted combination for importance. */
  criteria: WeightedCriterion[];
  /** How much per layer: the S4oP depth rule, or a global ranking of per-layer-normalised scores. */
  allocation: 's4op' | 'scores';
  /** Percent of all operators bypassed at each step, increasing. */
  rates: number[];
  /** Candidates per rate. */
  seeds: number;
  /** Base seed of choices and fine-tuning. */
  seed: number;
  fineTune: Partial<TrainOptions>;
  /** Training batches for the Taylor saliency. */
  taylorBatches: number;
  /** Stop once the best validation metric has dropped more than this many points below the base. */
  maxDrop?: number;
  /** Stop once the chosen candidate's p50 latency is at or below this. */
  budgetMs?: number;
  /** With a budget: prune only to the least rate the fitted cost model says meets it (before the scheduled rate). */
  steer?: boolean;
}

/** The paper's fine-tuning: AdamW lr 1e-4, weight decay 1e-5 (0 for SSM parameters), short warm-up, cosine. */
export const S4OP_FINETUNE: Partial<TrainOptions> = {
  epochs: 10,
  patience: 2,
  lr: 1e-4,
  lrSsm: 1e-4,
  weightDecay: 1e-5,
  warmupFraction: 0.1,
  clip: 1,
};

/**
 * The importance strategy is ours, not the paper's: it fine-tunes one candidate per rate, so it can afford a
 * larger step. On the sMNIST benchmark (S4D d_model 64, 3 epochs per rate, scripts/bench/prune-smnist.ts) the
 * candidate at 70 % pruned lost 1.5 / 1.2 / 0.4 test points to the base at lr 1e-3 / 2e-3 / 4e-3 (the last two
 * with Taylor scores from 32 batches instead of 8).
 */
export const IMPORTANCE_FINETUNE: Partial<TrainOptions> = { ...S4OP_FINETUNE, lr: 4e-3, lrSsm: 4e-3 };

/** The fine-tuning a strategy uses unless told otherwise. */
export const defaultFineTune = (strategy: Strategy): Partial<TrainOptions> => (strategy === 'importance' ? IMPORTANCE_FINETUNE : S4OP_FINETUNE);

export interface SearchEnv {
  store: RunStore;
  runId: string;
  /** Directory of this run's candidate checkpoints. */
  dir: string;
  baseCheckpoint: string;
  data: Dataset;
  measurer: CostMeasurer;
  log: (line: string) => void;
  /** No training progress bars. */
  quiet?: boolean;
  onCandidate?: (c: CandidateRecord) => void;
}

export interface SearchResult {
  status: 'finished' | 'stopped';
  stop_reason: string;
  /** The last chosen candidate within the accuracy limit (the run's answer). */
  final: CandidateRecord;
  base: CandidateRecord;
}

export function checkSearchOptions(o: SearchOptions): SearchOptions {
  if (!STRATEGIES.includes(o.strategy)) throw new Error(`unknown strategy "${String(o.strategy)}"; expected ${STRATEGIES.join(' or ')}`);
  if (o.allocation !== 's4op' && o.allocation !== 'scores') throw new Error(`unknown allocation "${String(o.allocation)}"; expected s4op or scores`);
  if (!o.criteria.length) throw new Error('the search needs at least one importance criterion');
  if (o.allocation === 'scores' && o.criteria.every((c) => c.criterion === 'random')) {
    throw new Error('score-following allocation needs a non-random criterion (random scores say nothing about depth)');
  }
  checkRates(o.rates);
  if (!Number.isInteger(o.seeds) || o.seeds < 1) throw new Error(`seeds per rate must be a positive integer, got ${o.seeds}`);
  if (o.maxDrop !== undefined && !(o.maxDrop >= 0)) throw new Error(`max-drop must be a non-negative number of points, got ${o.maxDrop}`);
  if (o.budgetMs !== undefined && !(o.budgetMs > 0)) throw new Error(`budget-ms must be a positive number, got ${o.budgetMs}`);
  if (o.steer && o.budgetMs === undefined) throw new Error('steering needs a latency budget (budget-ms)');
  return o;
}

/** Seed of candidate (step, j): distinct per candidate, reproducible from the run's seed. */
const candidateSeed = (o: SearchOptions, step: number, j: number) => o.seed * 100_003 + step * 1_009 + j;

const fmt = (v: number | undefined) => (v === undefined ? '-' : (100 * v).toFixed(2));

export async function runSearch(env: SearchEnv, options: SearchOptions): Promise<SearchResult> {
  const o = checkSearchOptions(options);
  const { store, runId } = env;
  const run = store.getRun(runId);
  if (!run) throw new Error(`no run ${runId} in ${store.file}`);
  const base = await baseCandidate(env);
  const H = (await readCheckpointConfig(env.baseCheckpoint)).model.dModel;
  let parent = base;
  let final = base;
  let stop = 'last rate';
  let status: SearchResult['status'] = 'finished';
  const nLayers = (await readCheckpointConfig(env.baseCheckpoint)).model.nLayers;
  for (let k = 1; k <= o.rates.length; k++) {
    let rate = o.rates[k - 1]!;
    if (o.steer) {
      // Recomputed from the stored measurements on a resume, so the steered rate is the same.
      const model = fitCostModel(costPoints(store, runId));
      const r = model ? steerRate(model, o.budgetMs!, H, nLayers, parent.rate, rate) : null;
      if (model && r !== null && r < rate) {
        env.log(`step ${k}: cost model p50 ≈ ${model.a.toFixed(3)} + ${model.b.toFixed(4)}·active ms (${model.points} points) meets ${o.budgetMs} ms at ${r}%: pruning to ${r}% instead of ${rate}%`);
        rate = r;
      }
    }
    const done: CandidateRecord[] = [];
    for (let j = 0; j < o.seeds; j++) {
      const prior = store.getCandidate(runId, k, j);
      if (prior?.status === 'finished') {
        if (prior.rate !== rate) throw new Error(`run ${runId}: step ${k} seed ${j} was recorded at ${prior.rate}%, but this step is now at ${rate}%; the store is inconsistent`);
        if (prior.parent_id !== parent.id) throw new Error(`run ${runId}: step ${k} seed ${j} was built on candidate ${prior.parent_id}, but the chosen parent is ${parent.id}; the store is inconsistent`);
        env.log(`step ${k} (${rate}%) seed ${j}: finished earlier (val ${fmt(prior.val_metric)}), skipped`);
        done.push(prior);
        continue;
      }
      const c = await runCandidate(env, o, { step: k, rate, j, parent, H });
      done.push(c);
    }
    // Best by validation metric; ties go to the lower seed.
    const best = done.reduce((a, b) => (b.val_metric! > a.val_metric! ? b : a));
    if (!best.chosen) store.choose(runId, k, best.id);
    const chosen = store.candidateById(best.id)!;
    const m = chosen.measurement_id != null ? store.measurementById(chosen.measurement_id) : undefined;
    env.log(`step ${k} (${rate}%): chose seed ${chosen.seed}: val ${fmt(chosen.val_metric)} test ${fmt(chosen.test_metric)}${m ? `, p50 ${m.p50_ms.toFixed(3)} ms${m.kind === 'estimate' ? ' (estimate)' : ''}` : ''}`);
    const drop = 100 * (base.val_metric! - chosen.val_metric!);
    if (o.maxDrop !== undefined && drop > o.maxDrop) {
      stop = `max-drop: validation metric ${drop.toFixed(2)} points below the base at ${rate}% (limit ${o.maxDrop})`;
      status = 'stopped';
      break;
    }
    final = chosen;
    parent = chosen;
    if (o.budgetMs !== undefined && m && m.p50_ms <= o.budgetMs) {
      stop = `budget: p50 ${m.p50_ms.toFixed(3)} ms ≤ ${o.budgetMs} ms at ${rate}%`;
      status = 'stopped';
      break;
    }
  }
  store.updateRun(runId, { status, stop_reason: stop, summary: { final_candidate: final.id, base_candidate: base.id } });
  env.log(`run ${runId} ${status}: ${stop}`);
  return { status, stop_reason: stop, final: store.candidateById(final.id)!, base };
}

/** Measured (active operators, p50) of the run's finished candidates. */
function costPoints(store: RunStore, runId: string): CostPoint[] {
  return store
    .candidates(runId)
    .filter((c) => c.status === 'finished' && c.measurement_id != null)
    .map((c) => ({ active: c.active_operators!.map((l) => l.length), p50_ms: store.measurementById(c.measurement_id!)!.p50_ms }));
}

/** Step 0: the unpruned model, evaluated and measured as it is. */
async function baseCandidate(env: SearchEnv): Promise<CandidateRecord> {
  const { store, runId } = env;
  const prior = store.getCandidate(runId, 0, 0);
  if (prior?.status === 'finished') return prior;
  const started = store.startCandidate({ run_id: runId, step: 0, rate: 0, seed: 0 });
  const { model, config } = await loadCheckpoint(env.baseCheckpoint);
  try {
    const val = evaluate(model, env.data.val);
    const test = evaluate(model, env.data.test);
    const cost = await measure(env, model, 'base');
    env.log(`base: val ${fmt(val.metric)} test ${fmt(test.metric)}, ${model.parameterCount(true)} parameters${costText(cost.m)}`);
    const onnx = await keepOnnx(path.resolve(env.dir, 'base.onnx'), cost);
    const rec = store.finishCandidate(started.id, {
      ...operatorFacts(model),
      checkpoint: path.resolve(env.baseCheckpoint),
      weights_sha256: config.weights_sha256,
      model_sha256: cost.model_sha256,
      val_metric: val.metric,
      val_loss: val.loss,
      test_metric: test.metric,
      test_loss: test.loss,
      finetune_epochs: 0,
      finetune_steps: 0,
      finetune_seconds: 0,
      measurement_id: cost.m.id,
      extra: { measured_by: cost.measured_by },
    }, onnx);
    store.choose(runId, 0, rec.id);
    env.onCandidate?.(rec);
    return store.candidateById(rec.id)!;
  } finally {
    model.dispose();
  }
}

async function runCandidate(
  env: SearchEnv,
  o: SearchOptions,
  c: { step: number; rate: number; j: number; parent: CandidateRecord; H: number },
): Promise<CandidateRecord> {
  const { store, runId } = env;
  const started = store.startCandidate({ run_id: runId, step: c.step, rate: c.rate, seed: c.j, parent_id: c.parent.id });
  const seed = candidateSeed(o, c.step, c.j);
  const { model, config } = await loadCheckpoint(c.parent.checkpoint!);
  try {
    const { nLayers } = model.config;
    const active = model.activeOperators();
    const target = targetBypassed(c.rate, c.H, nLayers);
    const scores = importanceScores(model, o.criteria, { L: env.data.info.length, seed, data: env.data, taylorBatches: o.taylorBatches, batchSize: o.fineTune.batchSize });
    const counts =
      o.allocation === 's4op'
        ? s4opAllocation(c.H, nLayers, target, bypassedCounts(active, c.H))
        : scoreAllocation(normalizePerLayer(scores), active, c.H, target);
    applyOperators(model, withBypassed(active, chooseBypass(active, scores, counts, c.H)));
    const label = `step ${c.step} (${c.rate}%) seed ${c.j}`;
    env.log(`${label}: ${target} of ${c.H * nLayers} operators bypassed, per layer [${counts.join(', ')}]; fine-tuning`);
    const record = train(model, env.data, { ...o.fineTune, seed, quiet: env.quiet, label: `${label} fine-tune` });
    const val = evaluate(model, env.data.val);
    const test = evaluate(model, env.data.test);
    const dir = path.resolve(env.dir, `step${c.step}-seed${c.j}`);
    const saved = await saveCheckpoint(dir, model, {
      dataset: config.dataset,
      training: { finetune: record, val, test },
      provenance: { run: runId, step: c.step, rate: c.rate, seed: c.j, parent_candidate: c.parent.id, parent_checkpoint: c.parent.checkpoint, strategy: o.strategy },
    });
    const cost = await measure(env, model, `${runId}-step${c.step}-seed${c.j}`);
    env.log(`${label}: val ${fmt(val.metric)} test ${fmt(test.metric)}, ${model.parameterCount(true)} parameters, ${record.epochs.length} epochs${costText(cost.m)}`);
    const rec = store.finishCandidate(
      started.id,
      {
        ...operatorFacts(model),
        checkpoint: dir,
        weights_sha256: saved.weights_sha256,
        model_sha256: cost.model_sha256,
        val_metric: val.metric,
        val_loss: val.loss,
        test_metric: test.metric,
        test_loss: test.loss,
        finetune_epochs: record.epochs.length,
        finetune_steps: record.steps,
        finetune_seconds: record.seconds,
        measurement_id: cost.m.id,
        extra: { measured_by: cost.measured_by, per_layer: counts, target, seed_value: seed, stopped_early: record.stoppedEarly },
      },
      [{ kind: 'checkpoint', path: dir, sha256: saved.weights_sha256 }, ...(await keepOnnx(path.join(dir, 'model.onnx'), cost))],
    );
    env.onCandidate?.(rec);
    return rec;
  } finally {
    model.dispose();
  }
}

function operatorFacts(model: SequenceModel) {
  const active = model.activeOperators();
  const H = model.config.dModel;
  return {
    active_operators: active,
    bypassed: bypassedCounts(active, H),
    operators_active: activeCount(active),
    operators_total: H * active.length,
    params: model.parameterCount(true),
  };
}

/** Looks the candidate up in the measurement cache; measures only on a miss. */
interface Costed {
  model_sha256: string;
  m: MeasurementRecord;
  measured_by: string;
  /** The exported model that was (or would have been) measured. */
  bytes?: Uint8Array;
}

async function measure(env: SearchEnv, model: SequenceModel, name: string): Promise<Costed> {
  const { measurer, store } = env;
  const p = measurer.prepare(model, name);
  const cached = store.findMeasurement(p.model_sha256, measurer.agent, measurer.settings);
  if (cached) return { model_sha256: p.model_sha256, m: cached, measured_by: (cached.raw as { measured_by?: string } | null)?.measured_by ?? cached.agent, bytes: p.bytes };
  const f = await measurer.measure(p);
  const m = store.addMeasurement({
    model_sha256: p.model_sha256,
    agent: measurer.agent,
    settings: measurer.settings,
    kind: measurer.kind,
    runtime: f.runtime ?? null,
    p50_ms: f.p50_ms,
    p90_ms: f.p90_ms,
    rss_mb: f.rss_mb,
    statistics: f.statistics,
    memory: f.memory,
    thermal: f.thermal,
    throttled: f.throttled ?? null,
    raw: { measured_by: f.measured_by ?? measurer.agent, measurement: f.raw ?? null },
  });
  return { model_sha256: p.model_sha256, m, measured_by: f.measured_by ?? measurer.agent, bytes: p.bytes };
}

/** Keeps the exported model next to the candidate (what a deployment ships); returns its artifact record. */
async function keepOnnx(file: string, cost: Costed): Promise<{ kind: string; path: string; sha256: string; bytes: number }[]> {
  if (!cost.bytes) return [];
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, cost.bytes);
  return [{ kind: 'onnx', path: file, sha256: cost.model_sha256, bytes: cost.bytes.length }];
}

function costText(m: MeasurementRecord): string {
  const tag = m.kind === 'estimate' ? ' (estimate)' : ` on ${m.agent}`;
  return `; p50 ${m.p50_ms.toFixed(3)} ms, p90 ${m.p90_ms.toFixed(3)} ms${m.rss_mb != null ? `, ${m.rss_mb.toFixed(1)} MB` : ''}${tag}`;
}

