/**
 * The incremental search. Step 0 records the base model. For each rate of the schedule: the target is
 * allocated over depth (the S4oP rule, or following the scores), channels are chosen by the importance
 * criteria (random under several seeds for `s4op`), each candidate is fine-tuned briefly, evaluated,
 * saved and measured; the best by validation metric is kept and is the starting point of the next rate,
 * so channels pruned earlier stay pruned. Every finished candidate is in the store before the next starts,
 * and a resumed run skips what is finished: nothing is fine-tuned or measured twice.
 *
 * Every candidate is measured paired with the base (one interleaved A/B job on the same agent) and every
 * latency decision — budget, stop, steering, the front and the run's answer — uses that ratio (paired.ts).
 * A candidate measured slower than its parent beyond the intervals is measured again and, if that persists,
 * flagged: its operators are a subset of its parent's, so such a figure is not to be trusted silently.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { loadCheckpoint, readCheckpointConfig } from '../model/checkpoint.js';
import type { SequenceModel } from '../model/model.js';
import type { CandidateRecord, MeasurementInput, MeasurementRecord, RunStore } from '../store/run-store.js';
import { evaluate, type TrainOptions } from '../train/trainer.js';
import {
  candidateLabel,
  CandidateFailure,
  fineTuneCandidate,
  type CandidateJob,
  type FineTuned,
  type FineTuner,
} from './candidate.js';
import { storedModelFigures, type CostFigures, type CostMeasurer, type PreparedModel } from './cost/cost.js';
import type { WeightedCriterion } from './criteria/index.js';
import { activeCount, bypassedCounts } from './operators.js';
import { checkRates } from './schedule.js';
import {
  checkAxes,
  axisPoint,
  chooseAxis,
  DEFAULT_STATE_RATES,
  proposeAxes,
  type AxesPlan,
  type Axis,
  type Proposal,
} from './axes.js';
import { stateCriterion } from './states/registry.js';
import { STATE_LAYOUTS, type StateLayout } from './states/threshold.js';
import { statePruningRefusal } from '../model/kinds/registry.js';
import { fitCostModel, steerRate, type CostPoint } from './cost/steering.js';
import {
  BASE_FIGURE,
  budgetRatio,
  chooseFinal,
  combineAttempts,
  figureOf,
  frontPoints,
  paretoFront,
  pooledP50,
  slowerThanParent,
  type Budget,
  type CandidatePaired,
  type RatioFigure,
} from './paired.js';

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
  /** Stop once the chosen candidate's paired ratio is at or below this budget, converted to a ratio through the base's pooled p50. */
  budgetMs?: number;
  /** Stop once the chosen candidate's paired latency ratio to the base is at or below this (e.g. 0.6). */
  budgetRatio?: number;
  /** With a budget: prune only to the least rate the fitted cost model says meets it (before the scheduled rate). */
  steer?: boolean;
  /** Profile every measured candidate (where the time goes); the base and the answer are profiled always. */
  profileAll?: boolean;
  /** What each step may move along (axes.ts); default operators alone, the schedule of `rates`. */
  axes?: Axis[];
  /** States axis: percent of states pruned at each of its steps (default DEFAULT_STATE_RATES), and the criterion. */
  stateRates?: number[];
  stateCriterion?: string;
  /** States axis: every channel of a layer keeps the same count ('balanced', default) or not ('free'). */
  stateLayout?: StateLayout;
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
export const defaultFineTune = (strategy: Strategy): Partial<TrainOptions> =>
  strategy === 'importance' ? IMPORTANCE_FINETUNE : S4OP_FINETUNE;

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
  /** Fine-tunes elsewhere (a queue of workers); without it, fine-tunes run here, one after another. */
  fineTuner?: FineTuner;
}

export interface SearchResult {
  status: 'finished' | 'stopped';
  stop_reason: string;
  /** The run's answer: on the front of what it measured, within the accuracy limit (paired.ts, chooseFinal). */
  final: CandidateRecord;
  base: CandidateRecord;
  /** Candidate ids on the Pareto front (paired ratio, validation metric), fastest first. */
  front: number[];
}

export function checkSearchOptions(o: SearchOptions): SearchOptions {
  if (!STRATEGIES.includes(o.strategy))
    throw new Error(`unknown strategy "${String(o.strategy)}"; expected ${STRATEGIES.join(' or ')}`);
  if (o.allocation !== 's4op' && o.allocation !== 'scores')
    throw new Error(`unknown allocation "${String(o.allocation)}"; expected s4op or scores`);
  if (!o.criteria.length) throw new Error('the search needs at least one importance criterion');
  if (o.allocation === 'scores' && o.criteria.every((c) => c.criterion === 'random')) {
    throw new Error('score-following allocation needs a non-random criterion (random scores say nothing about depth)');
  }
  checkRates(o.rates);
  if (!Number.isInteger(o.seeds) || o.seeds < 1)
    throw new Error(`seeds per rate must be a positive integer, got ${o.seeds}`);
  if (o.maxDrop !== undefined && !(o.maxDrop >= 0))
    throw new Error(`max-drop must be a non-negative number of points, got ${o.maxDrop}`);
  if (o.budgetMs !== undefined && !(o.budgetMs > 0))
    throw new Error(`budget-ms must be a positive number, got ${o.budgetMs}`);
  if (o.budgetRatio !== undefined && !(o.budgetRatio > 0 && o.budgetRatio < 1))
    throw new Error(`budget must be a latency ratio to the base in (0, 1), got ${o.budgetRatio}`);
  if (o.budgetMs !== undefined && o.budgetRatio !== undefined)
    throw new Error('give one latency budget: budget-ms or a ratio (budget), not both');
  if (o.steer && o.budgetMs === undefined && o.budgetRatio === undefined)
    throw new Error('steering needs a latency budget (budget-ms or budget)');
  if (o.axes !== undefined) checkAxes(o.axes);
  if (o.steer && isJoint(o))
    throw new Error('steering follows the operator schedule: use it with --axes operators only');
  if (o.stateRates !== undefined) checkRates(o.stateRates);
  if (o.stateCriterion !== undefined) stateCriterion(o.stateCriterion);
  if (o.stateLayout !== undefined && !STATE_LAYOUTS.includes(o.stateLayout))
    throw new Error(`unknown state layout "${String(o.stateLayout)}"; expected ${STATE_LAYOUTS.join(' or ')}`);
  return o;
}

/** Whether the run searches more than the operator schedule. */
export const isJoint = (o: Pick<SearchOptions, 'axes'>) =>
  o.axes !== undefined && !(o.axes.length === 1 && o.axes[0] === 'operators');

/** "operators to 30 % (5 seeds)", "states to 40 %", "int8" for a step's log line. */
function axisText(axis: Axis, proposals: readonly Proposal[]): string {
  const ps = proposals.filter((p) => p.axis === axis);
  if (axis === 'operators') return `operators to ${ps[0]!.rate} % (${ps.length} seed${ps.length > 1 ? 's' : ''})`;
  if (axis === 'states') return `states to ${ps[0]!.stateRate} %`;
  return 'int8';
}

/** Seed of candidate (step, j): distinct per candidate, reproducible from the run's seed. */
const candidateSeed = (o: SearchOptions, step: number, j: number) => o.seed * 100_003 + step * 1_009 + j;

const fmt = (v: number | undefined) => (v === undefined ? '-' : (100 * v).toFixed(2));

export async function runSearch(env: SearchEnv, options: SearchOptions): Promise<SearchResult> {
  const o = checkSearchOptions(options);
  const { store, runId } = env;
  const run = store.getRun(runId);
  if (!run) throw new Error(`no run ${runId} in ${store.file}`);
  const { base, reference } = await baseCandidate(env);
  const baseConfig = (await readCheckpointConfig(env.baseCheckpoint)).model;
  const { dModel: H, nLayers } = baseConfig;
  const refusal = o.axes?.includes('states') ? statePruningRefusal(baseConfig.ssm) : undefined;
  if (refusal) throw new Error(`the states axis: ${refusal}`);
  const budget: Budget | undefined =
    o.budgetRatio !== undefined ? { ratio: o.budgetRatio } : o.budgetMs !== undefined ? { ms: o.budgetMs } : undefined;
  // Converted at each decision: the base's pooled p50 gains a job with every paired measurement.
  const budgetNow = () =>
    budget
      ? budgetRatio(
          budget,
          store.referenceP50s(base.model_sha256!, env.measurer.agent, env.measurer.settings),
          env.measurer.agent,
        )
      : undefined;
  const b0 = budgetNow();
  if (b0) env.log(`${b0.text}: every candidate is timed interleaved with the base and judged by its ratio`);
  let parent = base;
  let stop = 'last rate';
  let status: SearchResult['status'] = 'finished';
  const joint = isJoint(o);
  const plan: AxesPlan = {
    axes: o.axes ?? ['operators'],
    rates: o.rates,
    stateRates: o.stateRates ?? DEFAULT_STATE_RATES,
    seeds: o.seeds,
  };
  // Axes whose candidate went past the drop limit: further along them loses more.
  const closed = new Set<Axis>();
  // Per axis, the furthest point tried from the current parent that was no faster (axes.ts: the next step goes
  // past it from the same parent).
  const passed = new Map<Axis, number>();
  for (let k = 1; ; k++) {
    let proposals: Proposal[];
    if (!joint) {
      if (k > o.rates.length) break;
      let rate = o.rates[k - 1]!;
      if (o.steer) {
        // Recomputed from the stored measurements on a resume, so the steered rate is the same.
        const b = budgetNow()!;
        const model = fitCostModel(costPoints(store, runId));
        const r = model ? steerRate(model, b.ratio, H, nLayers, parent.rate, rate) : null;
        if (model && r !== null && r < rate) {
          env.log(
            `step ${k}: cost model ratio ≈ ${model.a.toFixed(3)} + ${model.b.toFixed(5)}·active (${model.points} points) meets the ${b.text} at ${r}%: pruning to ${r}% instead of ${rate}%`,
          );
          rate = r;
        }
      }
      proposals = Array.from({ length: o.seeds }, (_, j) => ({ axis: 'operators' as const, j, rate, stateRate: 0 }));
    } else {
      proposals = proposeAxes(plan, parent, closed, passed);
      if (!proposals.length) {
        stop = 'every axis is at the end of its schedule';
        break;
      }
      env.log(`step ${k}: ${[...new Set(proposals.map((p) => p.axis))].map((a) => axisText(a, proposals)).join('; ')}`);
    }
    const done: CandidateRecord[] = [];
    const pending: { j: number; job: CandidateJob; dir: string }[] = [];
    for (const p of proposals) {
      const prior = store.getCandidate(runId, k, p.j);
      if (prior?.status === 'finished') {
        if (prior.rate !== p.rate || (prior.axis ?? 'operators') !== p.axis)
          throw new Error(
            `run ${runId}: step ${k} candidate ${p.j} was recorded as ${prior.axis} at ${prior.rate}%, but this step proposes ${p.axis} at ${p.rate}%; the store is inconsistent`,
          );
        if (prior.parent_id !== parent.id)
          throw new Error(
            `run ${runId}: step ${k} seed ${p.j} was built on candidate ${prior.parent_id}, but the chosen parent is ${parent.id}; the store is inconsistent`,
          );
        env.log(
          `${candidateLabel({ step: k, rate: p.rate, j: p.j, axis: p.axis, stateRate: p.stateRate })}: finished earlier (val ${fmt(prior.val_metric)}), skipped`,
        );
        done.push(prior);
        continue;
      }
      const job = candidateJob(o, runId, { step: k, proposal: p, parent });
      pending.push({ j: p.j, job, dir: path.resolve(env.dir, `step${k}-seed${p.j}`) });
    }
    // Through a queue every pending candidate of the step is in flight at once; locally they run one after another.
    const remote = env.fineTuner;
    // A candidate is recorded as running when its fine-tune starts: all of the step's at once through a queue.
    const start = (p: (typeof pending)[number]) =>
      store.startCandidate({
        run_id: runId,
        step: k,
        rate: p.job.rate,
        seed: p.j,
        parent_id: parent.id,
        axis: p.job.axis,
      }).id;
    const ids = remote ? pending.map((p) => start(p)) : [];
    const inFlight = remote
      ? pending.map((p) => settled(remote.fineTune(parent.checkpoint!, p.dir, p.job)))
      : undefined;
    for (const [i, p] of pending.entries()) {
      const id = remote ? ids[i]! : start(p);
      const label = candidateLabel(p.job);
      let tuned: FineTuned;
      if (inFlight) {
        const r = await inFlight[i]!;
        if (!r.ok) {
          if (!(r.error instanceof CandidateFailure)) throw r.error;
          store.failCandidate(id, r.error.message);
          env.log(`${label}: failed, left out: ${r.error.message}`);
          continue;
        }
        tuned = r.value;
      } else {
        tuned = await fineTuneCandidate(parent.checkpoint!, p.dir, p.job, env.data, { log: env.log, quiet: env.quiet });
      }
      done.push(await finishCandidate(env, { ...p, id, label, parent, H, reference }, tuned));
    }
    if (!done.length) {
      stop = `every candidate of step ${k} (${joint ? 'every axis' : `${proposals[0]!.rate}%`}) failed`;
      status = 'stopped';
      break;
    }
    let chosen: CandidateRecord;
    if (!joint) {
      // Best by validation metric; ties go to the lower seed.
      const best = done.reduce((a, b) => (b.val_metric! > a.val_metric! ? b : a));
      if (!best.chosen) store.choose(runId, k, best.id);
      chosen = store.candidateById(best.id)!;
    } else {
      const parentFigure = figureOf(parent) ?? BASE_FIGURE;
      const measured = done.flatMap((c) => {
        const f = figureOf(c);
        return f ? [{ id: c.id, axis: c.axis ?? ('operators' as const), ratio: f.ratio, metric: c.val_metric! }] : [];
      });
      const { chosen: move, verdicts } = chooseAxis(
        { ratio: parentFigure.ratio, metric: parent.val_metric! },
        base.val_metric!,
        measured,
        o.maxDrop,
      );
      const skipped: string[] = [];
      for (const v of verdicts) {
        env.log(`step ${k} ${v.axis}: ${v.value === null ? 'not a move: ' : ''}${v.reason}`);
        if (v.beyondLimit) closed.add(v.axis);
        else if (v.value === null) {
          const c = done.find((d) => d.id === v.id)!;
          passed.set(v.axis, axisPoint(v.axis, { rate: c.rate, stateRate: c.state_rate ?? 0 }));
          skipped.push(v.axis);
        }
      }
      if (!move) {
        if (skipped.length && proposeAxes(plan, parent, closed, passed).length) {
          env.log(`step ${k}: no move; from the same parent, ${skipped.join(' and ')} go one point further`);
          continue;
        }
        stop = `no axis buys latency within the limit at step ${k}`;
        break;
      }
      passed.clear();
      const best = done.find((c) => c.id === move.id)!;
      if (!best.chosen) store.choose(runId, k, best.id);
      chosen = store.candidateById(best.id)!;
    }
    const f = figureOf(chosen);
    env.log(
      `step ${k}: chose ${candidateLabel({ step: k, rate: chosen.rate, j: chosen.seed, axis: chosen.axis, stateRate: chosen.state_rate })}: val ${fmt(chosen.val_metric)} test ${fmt(chosen.test_metric)}${f ? `, ${ratioText(f)}` : ''}`,
    );
    const drop = 100 * (base.val_metric! - chosen.val_metric!);
    if (!joint && o.maxDrop !== undefined && drop > o.maxDrop) {
      stop = `max-drop: validation metric ${drop.toFixed(2)} points below the base at ${chosen.rate}% (limit ${o.maxDrop})`;
      status = 'stopped';
      break;
    }
    parent = chosen;
    const b = budgetNow();
    if (b && f && f.ratio <= b.ratio) {
      stop = `budget: ratio ${f.ratio.toFixed(3)} to the base ≤ ${b.text} at step ${k}`;
      status = 'stopped';
      break;
    }
  }
  // The answer is chosen from everything the run measured, so it is on the front by construction.
  const points = frontPoints(store.candidates(runId));
  const b = budgetNow();
  const pick = chooseFinal(points, { baseMetric: base.val_metric!, maxDrop: o.maxDrop, budgetRatio: b?.ratio });
  const final = pick ? store.candidateById(pick.id)! : base;
  const front = paretoFront(points).map((p) => p.id);
  const pooled = store.referenceP50s(base.model_sha256!, env.measurer.agent, env.measurer.settings);
  const profiled = o.profileAll
    ? store.candidates(runId).filter((c) => c.status === 'finished' && c.measurement_id != null)
    : [base, ...(final.id === base.id ? [] : [final])];
  const profiles = await profileCandidates(env, profiled, reference);
  store.updateRun(runId, {
    status,
    stop_reason: stop,
    summary: {
      final_candidate: final.id,
      base_candidate: base.id,
      front,
      budget: b ? { ratio: b.ratio, text: b.text } : null,
      base_p50_ms_pooled: pooled.length ? pooledP50(pooled) : null,
      base_jobs: pooled.length,
      profiles,
    },
  });
  env.log(`run ${runId} ${status}: ${stop}`);
  const ff = figureOf(final);
  env.log(
    `answer: ${final.step === 0 ? 'the base' : candidateLabel({ step: final.step, rate: final.rate, j: final.seed, axis: final.axis, stateRate: final.state_rate })}${final.axis !== 'operators' ? ` (${final.rate}% operators, ${final.state_rate}% states, ${final.precision})` : ''}, val ${fmt(final.val_metric)}${ff ? `, ${ratioText(ff)}` : ''}; on the front of ${points.length} measured candidates (${front.length} on it)${b ? `; ${b.text}` : ''}`,
  );
  return { status, stop_reason: stop, final, base, front };
}

/**
 * Where the time goes, for the given candidates: one profiling job each on the run's agent (cached like any
 * measurement, under the profile settings). Returns candidate id → measurement id. A failed profile is
 * logged and left out: it never fails the run.
 */
async function profileCandidates(
  env: SearchEnv,
  candidates: readonly CandidateRecord[],
  reference: PreparedModel,
): Promise<Record<string, number>> {
  const { measurer, store } = env;
  const out: Record<string, number> = {};
  if (!measurer.profile || !measurer.profileSettings) return out;
  for (const c of candidates) {
    const label = c.step === 0 ? 'base' : `step ${c.step} (${c.rate}%) seed ${c.seed}`;
    try {
      let p: PreparedModel = reference;
      if (c.step !== 0) {
        const { model } = await loadCheckpoint(c.checkpoint!);
        try {
          p = measurer.prepare(model, `${env.runId}-step${c.step}-seed${c.seed}`, { precision: c.precision });
        } finally {
          model.dispose();
        }
      }
      let m = store.findMeasurement(p.model_sha256, measurer.agent, measurer.profileSettings);
      if (!m) {
        const f = await measurer.profile(p);
        m = store.addMeasurement({ ...measurementInput(measurer, p, f), settings: measurer.profileSettings });
      }
      out[String(c.id)] = m.id;
      env.log(`${label}: profiled (${profileText(m.raw)})`);
    } catch (err) {
      env.log(`${label}: profiling failed, left out: ${(err as Error).message}`);
    }
  }
  return out;
}

/** "ssm 78 % · mixing 12 % · …" from a stored profiling measurement, or why there is none. */
function profileText(raw: unknown): string {
  const f = storedModelFigures(raw);
  const t = f?.profile?.by_section ?? f?.profile?.by_op_type;
  if (!t) return f?.profile_error ? `no profile: ${f.profile_error}` : 'no profile';
  const total = Object.values(t).reduce((a, v) => a + v, 0);
  return Object.entries(t)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([k, v]) => `${k} ${Math.round((100 * v) / total)} %`)
    .join(' · ');
}

/** Measured (active operators, paired ratio) of the run's finished candidates, the base as (all, 1). */
function costPoints(store: RunStore, runId: string): CostPoint[] {
  const out: CostPoint[] = [];
  for (const c of store.candidates(runId)) {
    const f = c.status === 'finished' ? figureOf(c) : null;
    if (f) out.push({ active: c.active_operators!.map((l) => l.length), cost: f.ratio });
  }
  return out;
}

const ratioText = (f: RatioFigure) =>
  f.attempts === 0
    ? 'ratio 1 (the base)'
    : `ratio ${f.ratio.toFixed(3)} [${f.low.toFixed(3)}, ${f.high.toFixed(3)}] to the base${f.attempts > 1 ? ` (${f.attempts} jobs)` : ''}${f.busy ? ' (board busy)' : ''}`;

/** The base as the reference of every paired job, re-exported on a resume (the export is deterministic). */
async function basePrepared(env: SearchEnv, base: CandidateRecord): Promise<PreparedModel> {
  const { model } = await loadCheckpoint(env.baseCheckpoint);
  try {
    const p = env.measurer.prepare(model, 'base');
    if (base.model_sha256 && p.model_sha256 !== base.model_sha256) {
      throw new Error(
        `the base exports to ${p.model_sha256.slice(0, 12)}… now, but the run measured ${base.model_sha256.slice(0, 12)}…: the export or the measurer changed since the run started`,
      );
    }
    return p;
  } finally {
    model.dispose();
  }
}

/** Step 0: the unpruned model, evaluated and measured as it is; with its export, the reference of every pair. */
async function baseCandidate(env: SearchEnv): Promise<{ base: CandidateRecord; reference: PreparedModel }> {
  const { store, runId } = env;
  const prior = store.getCandidate(runId, 0, 0);
  if (prior?.status === 'finished') return { base: prior, reference: await basePrepared(env, prior) };
  const started = store.startCandidate({ run_id: runId, step: 0, rate: 0, seed: 0 });
  const { model, config } = await loadCheckpoint(env.baseCheckpoint);
  try {
    const val = evaluate(model, env.data.val);
    const test = evaluate(model, env.data.test);
    const cost = await measure(env, model, 'base');
    env.log(
      `base: val ${fmt(val.metric)} test ${fmt(test.metric)}, ${model.parameterCount(true)} parameters${costText(cost.m)}`,
    );
    const onnx = await keepOnnx(path.resolve(env.dir, 'base.onnx'), cost);
    const rec = store.finishCandidate(
      started.id,
      {
        ...operatorFacts(model),
        checkpoint: path.resolve(env.baseCheckpoint),
        weights_sha256: config.weights_sha256,
        model_sha256: cost.prepared.model_sha256,
        val_metric: val.metric,
        val_loss: val.loss,
        test_metric: test.metric,
        test_loss: test.loss,
        finetune_epochs: 0,
        finetune_steps: 0,
        finetune_seconds: 0,
        measurement_id: cost.m.id,
        extra: { measured_by: cost.measured_by },
      },
      onnx,
    );
    store.choose(runId, 0, rec.id);
    env.onCandidate?.(rec);
    return { base: store.candidateById(rec.id)!, reference: cost.prepared };
  } finally {
    model.dispose();
  }
}

/** The candidate as the search keeps it: fine-tuned (here or by a worker), exported, measured, recorded. */
async function finishCandidate(
  env: SearchEnv,
  c: {
    id: number;
    j: number;
    job: CandidateJob;
    label: string;
    parent: CandidateRecord;
    H: number;
    reference: PreparedModel;
  },
  t: FineTuned,
): Promise<CandidateRecord> {
  const { store, runId } = env;
  const { step } = c.job;
  // Read back from disk on both paths, so a local and a queued candidate are exported from the same bytes.
  const { model } = await loadCheckpoint(t.dir);
  try {
    const prepared = env.measurer.prepare(model, `${runId}-step${step}-seed${c.j}`, { precision: t.precision });
    const paired = await measureAgainstBase(env, c.reference, prepared, c.parent, c.label);
    const cost: Costed = { m: paired.m, measured_by: paired.measured_by, prepared };
    env.log(
      `${c.label}: val ${fmt(t.val.metric)} test ${fmt(t.test.metric)}, ${model.parameterCount(true)} parameters, ${t.epochs} epochs; ${ratioText(paired.figure)}${costText(cost.m)}`,
    );
    const rec = store.finishCandidate(
      c.id,
      {
        ...operatorFacts(model),
        checkpoint: t.dir,
        weights_sha256: t.weights_sha256,
        model_sha256: cost.prepared.model_sha256,
        val_metric: t.val.metric,
        val_loss: t.val.loss,
        test_metric: t.test.metric,
        test_loss: t.test.loss,
        finetune_epochs: t.epochs,
        finetune_steps: t.steps,
        finetune_seconds: t.seconds,
        measurement_id: cost.m.id,
        precision: t.precision,
        state_rate: t.stateRate,
        extra: {
          measured_by: cost.measured_by,
          per_layer: t.counts,
          states_pruned: model.prunedStates().reduce((a, l) => a + l.length, 0),
          target: t.target,
          seed_value: c.job.seed,
          stopped_early: t.stoppedEarly,
          paired: paired.figure,
          ...(t.worker ? { fine_tuned_by: t.worker } : {}),
        },
      },
      [
        { kind: 'checkpoint', path: t.dir, sha256: t.weights_sha256 },
        ...(await keepOnnx(path.join(t.dir, 'model.onnx'), cost)),
      ],
    );
    env.onCandidate?.(rec);
    return rec;
  } finally {
    model.dispose();
  }
}

/** What the fine-tune of candidate (step, j) needs, as plain JSON. */
function candidateJob(
  o: SearchOptions,
  runId: string,
  c: { step: number; proposal: Proposal; parent: CandidateRecord },
): CandidateJob {
  const p = c.proposal;
  return {
    step: c.step,
    rate: p.rate,
    j: p.j,
    ...(isJoint(o) ? { axis: p.axis } : {}),
    ...(p.axis === 'states'
      ? { stateRate: p.stateRate, stateCriterion: o.stateCriterion ?? 'last', stateLayout: o.stateLayout ?? 'balanced' }
      : {}),
    seed: candidateSeed(o, c.step, p.j),
    criteria: o.criteria,
    allocation: o.allocation,
    taylorBatches: o.taylorBatches,
    fineTune: o.fineTune,
    provenance: {
      run: runId,
      step: c.step,
      rate: p.rate,
      seed: p.j,
      axis: p.axis,
      parent_candidate: c.parent.id,
      parent_checkpoint: c.parent.checkpoint,
      strategy: o.strategy,
    },
  };
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settled = <T>(p: Promise<T>): Promise<Settled<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

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
  m: MeasurementRecord;
  measured_by: string;
  /** The exported model that was (or would have been) measured: its hash keys the measurement. */
  prepared: PreparedModel;
}

async function measure(env: SearchEnv, model: SequenceModel, name: string): Promise<Costed> {
  const { measurer, store } = env;
  const p = measurer.prepare(model, name);
  const cached = store.findMeasurement(p.model_sha256, measurer.agent, measurer.settings);
  if (cached)
    return {
      m: cached,
      measured_by: (cached.raw as { measured_by?: string } | null)?.measured_by ?? cached.agent,
      prepared: p,
    };
  const f = await measurer.measure(p);
  const m = store.addMeasurement(measurementInput(measurer, p, f));
  return { m, measured_by: f.measured_by ?? measurer.agent, prepared: p };
}

/** What the store keeps of a measurer's figures for model `p`. */
function measurementInput(measurer: CostMeasurer, p: PreparedModel, f: CostFigures): MeasurementInput {
  return {
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
  };
}

/**
 * The candidate's paired figure: one A/B job against the base (cached by the pair). Slower than its parent
 * beyond the intervals → a second paired job; if that one alone is still slower, the candidate is flagged.
 */
async function measureAgainstBase(
  env: SearchEnv,
  reference: PreparedModel,
  p: PreparedModel,
  parent: CandidateRecord,
  label: string,
): Promise<{ m: MeasurementRecord; measured_by: string; figure: CandidatePaired }> {
  const parentFigure = figureOf(parent) ?? BASE_FIGURE;
  const first = await measurePaired(env, reference, p, 0);
  const rows = [first.m];
  let flagged = false;
  if (slowerThanParent(combineAttempts([first.m.paired!]), parentFigure)) {
    env.log(
      `${label}: ${ratioText(combineAttempts([first.m.paired!]))} is slower than its parent's (${ratioText(parentFigure)}) beyond the intervals: measuring again`,
    );
    const second = await measurePaired(env, reference, p, 1);
    rows.push(second.m);
    flagged = slowerThanParent(combineAttempts([second.m.paired!]), parentFigure);
    if (flagged)
      env.log(
        `${label}: again slower than its parent (${ratioText(combineAttempts([second.m.paired!]))}): flagged "not faster than its parent"`,
      );
  }
  const figure = combineAttempts(rows.map((m) => ({ ...m.paired!, busy: m.busy })));
  const last = rows[rows.length - 1]!;
  return {
    m: last,
    measured_by: (last.raw as { measured_by?: string } | null)?.measured_by ?? last.agent,
    figure: {
      ...figure,
      reference_sha256: reference.model_sha256,
      measurements: rows.map((m) => m.id),
      not_faster_than_parent: flagged,
    },
  };
}

/** Attempt `attempt` of the paired job (reference, candidate): from the store, else measured and stored. */
async function measurePaired(
  env: SearchEnv,
  reference: PreparedModel,
  p: PreparedModel,
  attempt: number,
): Promise<{ m: MeasurementRecord }> {
  const { measurer, store } = env;
  const cached = store.findPaired(p.model_sha256, reference.model_sha256, measurer.agent, measurer.settings, attempt);
  if (cached) return { m: cached };
  const f = await measurer.measurePair(reference, p, attempt);
  const m = store.addMeasurement({
    ...measurementInput(measurer, p, f.candidate),
    busy: f.busy ?? null,
    paired: {
      reference_sha256: reference.model_sha256,
      attempt,
      ratio: f.ratio,
      ratio_low: f.ratio_low,
      ratio_high: f.ratio_high,
      reference_p50_ms: f.reference_p50_ms,
    },
  });
  return { m };
}

/** Keeps the exported model next to the candidate (what a deployment ships); returns its artifact record. */
async function keepOnnx(
  file: string,
  cost: Costed,
): Promise<{ kind: string; path: string; sha256: string; bytes: number }[]> {
  const { bytes, model_sha256 } = cost.prepared;
  if (!bytes) return [];
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return [{ kind: 'onnx', path: file, sha256: model_sha256, bytes: bytes.length }];
}

function costText(m: MeasurementRecord): string {
  const tag = m.kind === 'estimate' ? ' (estimate)' : ` on ${m.agent}`;
  return `; p50 ${m.p50_ms.toFixed(3)} ms, p90 ${m.p90_ms.toFixed(3)} ms${m.rss_mb != null ? `, ${m.rss_mb.toFixed(1)} MB` : ''}${tag}`;
}
