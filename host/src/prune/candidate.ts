/**
 * One candidate's fine-tune, the part of a search step that moves between machines: load the parent
 * checkpoint, bypass the step's operators (prune-step.ts), fine-tune, evaluate on val and test, save. The
 * local search and a queue worker (queue/processor.ts) both call this, so a candidate is the same wherever
 * it is computed; what follows (export, measurement, the store) stays with the host (search.ts).
 */
import type { Dataset } from '../data/dataset.js';
import { loadCheckpoint, saveCheckpoint } from '../model/checkpoint.js';
import { evaluate, train, type EvalResult, type TrainOptions } from '../train/trainer.js';
import type { WeightedCriterion } from './criteria/index.js';
import { pruneStep } from './prune-step.js';

/** Everything a fine-tune needs besides the parent's weights and the data: plain JSON, so it can travel. */
export interface CandidateJob {
  step: number;
  rate: number;
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
  /** The worker that fine-tuned it, through a queue. */
  worker?: string;
}

export const candidateLabel = (c: Pick<CandidateJob, 'step' | 'rate' | 'j'>) =>
  `step ${c.step} (${c.rate}%) seed ${c.j}`;

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
    const ctx = {
      L: data.info.length,
      seed: job.seed,
      data,
      taylorBatches: job.taylorBatches,
      batchSize: job.fineTune.batchSize,
    };
    const { target, counts } = pruneStep(model, {
      rate: job.rate,
      criteria: job.criteria,
      allocation: job.allocation,
      ctx,
    });
    const label = candidateLabel(job);
    o.log(`${label}: ${target} of ${H * nLayers} operators bypassed, per layer [${counts.join(', ')}]; fine-tuning`);
    const record = train(model, data, { ...job.fineTune, seed: job.seed, quiet: o.quiet, label: `${label} fine-tune` });
    const val = evaluate(model, data.val);
    const test = evaluate(model, data.test);
    const saved = await saveCheckpoint(dir, model, {
      dataset: config.dataset,
      training: { finetune: record, val, test },
      provenance: job.provenance,
    });
    return {
      dir,
      weights_sha256: saved.weights_sha256,
      val,
      test,
      epochs: record.epochs.length,
      steps: record.steps,
      seconds: record.seconds,
      stoppedEarly: record.stoppedEarly,
      counts,
      target,
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
