import * as tf from '@tensorflow/tfjs';
import type { Dataset, Split } from '../data/dataset.js';
import type { SequenceModel } from '../model/model.js';
import { Rng } from '../util/random.js';
import { Progress } from '../util/progress.js';
import { AdamW, clipByGlobalNorm } from './optimizer.js';
import { ReplicaPool, resolveReplicas } from './replicas.js';
import { EarlyStopping, warmupCosine } from './schedule.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Base learning rate of the non-SSM parameters. */
  lr: number;
  /** Learning rate of the SSM parameters (≤ 1e-3 as the S4 papers advise); their weight decay is 0. */
  lrSsm: number;
  weightDecay: number;
  /** Warm-up length as a fraction of all steps. */
  warmupFraction: number;
  /** Global gradient-norm clip (0 = off). */
  clip: number;
  /** Epochs without validation improvement before stopping (0 = never stop early). */
  patience: number;
  seed: number;
  /** Stop after this many optimizer steps in total (for benchmarks and quick runs). */
  maxSteps?: number;
  /**
   * Wall-clock budget in seconds: after a few steps the run measures its pace and shortens the schedule
   * (and so the cosine decay) to the steps that fit, validation passes included.
   */
  timeBudgetS?: number;
  /**
   * Data-parallel replicas (worker threads, one shard of each batch each); default: $S4OP_REPLICAS, else one
   * per core (at most 4) when the step is large enough and the backend is single-threaded (replicas.ts).
   */
  replicas?: number;
  quiet?: boolean;
  label?: string;
}

export const DEFAULT_TRAIN: TrainOptions = {
  epochs: 10,
  batchSize: 32,
  lr: 4e-3,
  lrSsm: 1e-3,
  weightDecay: 0.01,
  warmupFraction: 0.05,
  clip: 1,
  patience: 3,
  seed: 0,
};

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainMetric: number;
  valLoss: number;
  valMetric: number;
  seconds: number;
  samplesPerSec: number;
}

export interface TrainRecord {
  epochs: EpochRecord[];
  bestEpoch: number;
  bestValMetric: number;
  steps: number;
  seconds: number;
  stoppedEarly: boolean;
  options: TrainOptions;
}

export interface EvalResult {
  loss: number;
  /** Accuracy (single-label) or per-label accuracy at threshold 0.5 (multi-label). */
  metric: number;
  count: number;
}

/** Correct predictions in a batch: examples (single-label) or label decisions at 0.5 (multi-label). */
function countHits(model: SequenceModel, logits: tf.Tensor2D, y: tf.Tensor): number {
  return tf.tidy(() => {
    const hits = model.config.multiLabel
      ? tf.equal(tf.greater(logits, 0), tf.greater(y, 0.5))
      : tf.equal(tf.argMax(logits, -1), tf.cast(y, 'int32'));
    return tf.sum(tf.cast(hits, 'float32')).dataSync()[0]!;
  });
}

/** Units the metric is counted over in a batch of `size` examples. */
function metricUnits(model: SequenceModel, size: number): number {
  return model.config.multiLabel ? size * model.config.numClasses : size;
}

/** Loss and metric of `model` on a split, in inference mode. */
export function evaluate(model: SequenceModel, split: Split, batchSize = 64): EvalResult {
  let lossSum = 0;
  let correct = 0;
  let units = 0;
  let count = 0;
  for (const batch of split.batches(batchSize)) {
    const [loss, hits] = tf.tidy(() => {
      const logits = model.forward(batch.x, { training: false });
      return [model.loss(logits, batch.y).dataSync()[0]!, countHits(model, logits, batch.y)];
    });
    lossSum += loss * batch.size;
    correct += hits;
    units += metricUnits(model, batch.size);
    count += batch.size;
    batch.x.dispose();
    batch.y.dispose();
  }
  return { loss: count ? lossSum / count : NaN, metric: units ? correct / units : NaN, count };
}

/** Gradients of the mean loss on a batch (keyed by parameter name), the loss, and correct predictions. */
export interface BatchGradients {
  grads: Map<string, tf.Tensor>;
  loss: number;
  hits: number;
}

/** Forward and backward on one batch, in training mode with dropout seeded by `seed`; no update. */
export function computeGradients(model: SequenceModel, x: tf.Tensor, y: tf.Tensor, seed: number): BatchGradients {
  const params = model.params.trainable();
  const byVar = new Map(params.map((p) => [p.variable.name, p.name]));
  let logits: tf.Tensor2D | undefined;
  const { value, grads } = tf.variableGrads(
    () => {
      const out = model.forward(x, { training: true, seed });
      logits = tf.keep(out);
      return model.loss(out, y);
    },
    params.map((p) => p.variable),
  );
  const hits = countHits(model, logits!, y);
  logits!.dispose();
  const named = new Map<string, tf.Tensor>();
  for (const [varName, g] of Object.entries(grads)) named.set(byVar.get(varName)!, g);
  const loss = value.dataSync()[0]!;
  value.dispose();
  return { grads: named, loss, hits };
}

/** Clips (global norm) and applies gradients with the optimizer, then frees them. */
export function applyGradients(
  optimizer: AdamW,
  grads: Map<string, tf.Tensor>,
  opts: { lrScale: number; clip: number },
): void {
  if (opts.clip > 0) clipByGlobalNorm(grads, opts.clip);
  optimizer.apply(grads, opts.lrScale);
  for (const g of grads.values()) g.dispose();
}

/** One optimizer step on a batch; returns its loss and correct predictions (for the training metric). */
export function trainStep(
  model: SequenceModel,
  optimizer: AdamW,
  x: tf.Tensor,
  y: tf.Tensor,
  opts: { lrScale: number; clip: number; seed: number },
): { loss: number; hits: number } {
  const { grads, loss, hits } = computeGradients(model, x, y, opts.seed);
  applyGradients(optimizer, grads, opts);
  return { loss, hits };
}

/**
 * Trains with AdamW (SSM parameters in their own group), warm-up + cosine schedule, gradient clipping
 * and early stopping on the validation metric; restores the best epoch's weights at the end.
 */
export function train(model: SequenceModel, data: Dataset, options: Partial<TrainOptions> = {}): TrainRecord {
  const opts: TrainOptions = { ...DEFAULT_TRAIN, ...options };
  const optimizer = new AdamW(model.params.trainable(), {
    groups: {
      default: { lr: opts.lr, weightDecay: opts.weightDecay },
      ssm: { lr: opts.lrSsm, weightDecay: 0 },
    },
  });
  const stepsPerEpoch = Math.ceil(data.train.size / opts.batchSize);
  let totalSteps = Math.min(opts.maxSteps ?? Infinity, stepsPerEpoch * opts.epochs);
  let warmup = Math.round(opts.warmupFraction * totalSteps);
  const PACE_STEPS = 20;
  const stopper = new EarlyStopping(opts.patience);
  const rng = new Rng(opts.seed);
  const epochs: EpochRecord[] = [];
  let best: Map<string, { shape: number[]; values: Float32Array }> | undefined;
  let step = 0;
  let stoppedEarly = false;
  const replicas = resolveReplicas(opts.replicas, model, opts.batchSize, data.info.length);
  const pool =
    replicas > 1
      ? new ReplicaPool(model, replicas, { maxShard: Math.ceil(opts.batchSize / replicas), xShape: exampleShape(data) })
      : undefined;
  try {
    const t0 = performance.now();
    for (let epoch = 0; epoch < opts.epochs && step < totalSteps; epoch++) {
      const te = performance.now();
      const bar = new Progress(`${opts.label ?? 'train'} epoch ${epoch + 1}/${opts.epochs}`, stepsPerEpoch, {
        quiet: opts.quiet,
      });
      let lossSum = 0;
      let hitSum = 0;
      let seen = 0;
      let b = 0;
      for (const batch of data.train.batches(opts.batchSize, { seed: rng.fork() })) {
        if (step >= totalSteps) {
          batch.x.dispose();
          batch.y.dispose();
          continue;
        }
        const seed = rng.fork();
        const { grads, loss, hits } = pool
          ? pool.gradients(batch.x, batch.y, seed, (x, y, s) => computeGradients(model, x, y, s))
          : computeGradients(model, batch.x, batch.y, seed);
        applyGradients(optimizer, grads, { lrScale: warmupCosine(step, totalSteps, warmup), clip: opts.clip });
        if (!Number.isFinite(loss)) throw new Error(`training diverged: loss ${loss} at step ${step}`);
        lossSum += loss * batch.size;
        hitSum += hits;
        seen += batch.size;
        step += 1;
        b += 1;
        if (opts.timeBudgetS && step === PACE_STEPS) {
          // Validation costs about a forward pass per example: count it as a third of a training step each.
          const perStep = (performance.now() - t0) / 1000 / PACE_STEPS;
          const perEpochEval = ((data.val.size / opts.batchSize) * perStep) / 3;
          const fit = Math.floor(opts.timeBudgetS / (perStep + perEpochEval / stepsPerEpoch));
          if (fit < totalSteps) {
            totalSteps = Math.max(PACE_STEPS, fit);
            warmup = Math.min(warmup, Math.round(opts.warmupFraction * totalSteps));
          }
        }
        batch.x.dispose();
        batch.y.dispose();
        const rate = seen / ((performance.now() - te) / 1000);
        const metric = hitSum / metricUnits(model, seen);
        bar.update(b, `loss ${(lossSum / seen).toFixed(4)} acc ${metric.toFixed(4)} ${rate.toFixed(1)} samples/s`);
      }
      const val = evaluate(model, data.val, Math.max(opts.batchSize, 64));
      const seconds = (performance.now() - te) / 1000;
      const record: EpochRecord = {
        epoch,
        trainLoss: seen ? lossSum / seen : NaN,
        trainMetric: seen ? hitSum / metricUnits(model, seen) : NaN,
        valLoss: val.loss,
        valMetric: val.metric,
        seconds,
        samplesPerSec: seen / seconds,
      };
      epochs.push(record);
      bar.done(`loss ${record.trainLoss.toFixed(4)} val ${val.metric.toFixed(4)}`);
      if (stopper.update(epoch, val.metric)) best = model.params.snapshot();
      if (stopper.shouldStop) {
        stoppedEarly = true;
        break;
      }
    }
    if (best) for (const [name, { shape, values }] of best) model.params.set(name, values, shape);
    return {
      epochs,
      bestEpoch: stopper.bestEpoch,
      bestValMetric: stopper.best,
      steps: step,
      seconds: (performance.now() - t0) / 1000,
      stoppedEarly,
      options: { ...opts, replicas },
    };
  } finally {
    pool?.close();
    optimizer.dispose();
  }
}

/** One example's x shape: [L] token ids or [L, inputSize]. */
function exampleShape(data: Dataset): number[] {
  return data.info.inputKind === 'tokens' ? [data.info.length] : [data.info.length, data.info.inputSize];
}
