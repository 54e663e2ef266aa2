/**
 * One candidate's fine-tune, the part of a search step that moves between machines: load the parent
 * checkpoint, bypass the step's operators (prune-step.ts), fine-tune, evaluate on val and test, save. The
 * local search and a queue worker (queue/processor.ts) both call this, so a candidate is the same wherever
 * it is computed; what follows (export, measurement, the store) stays with the host (search.ts).
 */
import type { Dataset } from '../data/dataset.js';
import { loadCheckpoint, saveCheckpoint } from '../model/checkpoint.js';
import { train, type EvalResult, type TrainOptions } from '../train/trainer.js';
import type { Axis, Precision } from '../store/run-store.js';
import type { WeightedCriterion } from './criteria/index.js';
import { bypassedCounts } from './operators.js';
import { pruneStep } from './prune-step.js';
import { pruneStates } from './states/apply.js';
import type { StateLayout } from './states/threshold.js';
import { evaluateAt } from './evaluate-at.js';

/** Everything a fine-tune needs besides the parent's weights and the data: plain JSON, so it can travel. */
export interface CandidateJob {
  step: number;
  /** Percent of operators bypassed after the step (the parent's when the step moves along another axis). */
  rate: number;
  /** What the step moves along (default operators: the search of one axis). */
  axis?: Axis;
  /** Percent of the active channels' states pruned after the step (states axis), and by which criterion. */
  stateRate?: number;
  stateCriterion?: string;
  /** How kept modes spread over a layer's channels (states/threshold.ts); default balanced. */
  stateLayout?: StateLayout;
  /** Seed index within the step. */
  j: number;
  /** The seed value of choices and fine-tuning (search.ts, candidateSeed). */
  seed: number;
  criteria: WeightedCriterion[];
  allocation: 's4op' | 'scores';
  taylorBatches: number;
  fineTune: Partial<TrainOptions>;
  /** Recorded in the saved checkpoint. */
  provenance: Record<string, unknown>;
}

export interface FineTuned {
  /** The saved checkpoint. */
  dir: string;
  weights_sha256: string;
  val: EvalResult;
  test: EvalResult;
  epochs: number;
  steps: number;
  seconds: number;
  stoppedEarly: boolean;
  /** Bypassed operators per layer after the step, and their total. */
  counts: number[];
  target: number;
  /** Export precision of the candidate, and the percent of states pruned (the schedule's point). */
  precision: Precision;
  stateRate: number;
  /** The worker that fine-tuned it, through a queue. */
  worker?: string;
}

export const candidateLabel = (c: Pick<CandidateJob, 'step' | 'rate' | 'j' | 'axis' | 'stateRate'>) =>
  c.axis === undefined || c.axis === 'operators'
    ? `step ${c.step} (${c.rate}%) seed ${c.j}`
    : c.axis === 'states'
      ? `step ${c.step} (states ${c.stateRate}%)`
      : `step ${c.step} (int8)`;

/** Fine-tunes the candidate `job` of the checkpoint in `parentDir` and saves it to `dir`. */
export async function fineTuneCandidate(
  parentDir: string,
  dir: string,
  job: CandidateJob,
  data: Dataset,
  o: { log: (line: string) => void; quiet?: boolean },
): Promise<FineTuned> {
  const { model, config } = await loadCheckpoint(parentDir);
  try {
    const { dModel: H, nLayers } = model.config;
    const axis = job.axis ?? 'operators';
    const label = candidateLabel(job);
    let precision: Precision = config.precision ?? 'float32';
    let stateRate = config.state_rate ?? 0;
    let counts = bypassedCounts(model.activeOperators(), H);
    let target = counts.reduce((a, n) => a + n, 0);
    if (axis === 'operators') {
      const ctx = {
        L: data.info.length,
        seed: job.seed,
        data,
        taylorBatches: job.taylorBatches,
        batchSize: job.fineTune.batchSize,
      };
      ({ target, counts } = pruneStep(model, {
        rate: job.rate,
        criteria: job.criteria,
        allocation: job.allocation,
        ctx,
      }));
      o.log(`${label}: ${target} of ${H * nLayers} operators bypassed, per layer [${counts.join(', ')}]; fine-tuning`);
    } else if (axis === 'states') {
      stateRate = job.stateRate ?? 0;
      const r = pruneStates(model, {
        rate: stateRate,
        criterion: job.stateCriterion,
        seed: job.seed,
        layout: job.stateLayout,
      });
      o.log(
        `${label}: ${r.pruned} of ${r.total} states of the active channels pruned by ${job.stateCriterion ?? 'last'}${r.pruned !== r.requested ? ` (${r.requested} asked; ${(job.stateLayout ?? 'balanced') === 'balanced' ? 'the same count for every channel of a layer' : 'one per layer stays'})` : ''}; fine-tuning`,
      );
    } else {
      precision = 'int8';
      o.log(
        `${label}: encoder, mixing and decoder MatMuls to int8 (post-training, no fine-tune); evaluating the ONNX model`,
      );
    }
    const record =
      axis === 'int8'
        ? null
        : train(model, data, { ...job.fineTune, seed: job.seed, quiet: o.quiet, label: `${label} fine-tune` });
    // A quantised candidate's accuracy is its exported model's, run by onnxruntime.
    const { val, test } = await evaluateAt(model, data, precision);
    const saved = await saveCheckpoint(dir, model, {
      dataset: config.dataset,
      training: { finetune: record, val, test },
      provenance: job.provenance,
      ...(precision !== 'float32' ? { precision } : {}),
      ...(stateRate ? { state_rate: stateRate } : {}),
    });
    return {
      dir,
      weights_sha256: saved.weights_sha256,
      val,
      test,
      epochs: record?.epochs.length ?? 0,
      steps: record?.steps ?? 0,
      seconds: record?.seconds ?? 0,
      stoppedEarly: record?.stoppedEarly ?? false,
      counts,
      target,
      precision,
      stateRate,
    };
  } finally {
    model.dispose();
  }
}

/** Where fine-tunes run when not in this process (queue/client.ts). */
export interface FineTuner {
  /** Fine-tunes `job` on the checkpoint in `parentDir`; resolves once the verified result is in `dir`. */
  fineTune(parentDir: string, dir: string, job: CandidateJob): Promise<FineTuned>;
}

/** A candidate that cannot be fine-tuned (bad checkpoint, refused job): the candidate fails, not the run. */
export class CandidateFailure extends Error {
  override name = 'CandidateFailure';
}
