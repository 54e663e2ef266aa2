/**
 * Data-parallel training on worker threads. tfjs-wasm runs single-threaded in Node, so one process
 * trains on one core; with R replicas each optimizer step cuts its batch into R shards, the main thread
 * computes the first shard's gradients while R − 1 workers (each with its own tfjs backend and a copy of
 * the model) compute the others, and the main thread averages them (weighted by shard size, so the result
 * is the full batch's mean-loss gradient), clips and applies the update. The training loop stays
 * synchronous: parameters, shards and gradients travel through SharedArrayBuffers, the handshake through
 * Atomics (as in the SSM core's threads).
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { SequenceModel } from '../model/model.js';
import { waitWhile } from '../util/atomics.js';
import { configureSsmThreads, ssmThreadInfo } from '../ssm/wasm/wasm-core.js';
import type { BatchGradients } from './trainer.js';

/** Control block slots (Int32Array over a SharedArrayBuffer). */
export const CTL = {
  /** Job sequence number, raised by the main thread. */
  seq: 0,
  /** Last finished job, set by the worker. */
  done: 1,
  /** 0 ok, 1 failed (message in the text buffer). */
  status: 2,
  /** 1 step, −1 exit. */
  command: 3,
  /** Examples in this job's shard. */
  shard: 4,
  /** Dropout seed of the shard. */
  seed: 5,
  /** 1 once the worker has built its model (−1: it failed to start). */
  ready: 6,
  /** Bytes of the UTF-8 message in the text buffer. */
  textBytes: 7,
} as const;
const CTL_INTS = 8;
const TEXT_BYTES = 4096;

/** What a worker gets at start (structured-cloned). */
export interface ReplicaWorkerData {
  backend: string;
  config: SequenceModel['config'];
  active: number[][];
  /** Trainable parameters in the model's order: the layout of the params and grads buffers. */
  layout: { name: string; shape: number[]; offset: number; size: number }[];
  /** One example's x shape: [L] token ids or [L, inputSize] (y's follows from the config). */
  xShape: number[];
  ctl: SharedArrayBuffer;
  params: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  x: SharedArrayBuffer;
  y: SharedArrayBuffer;
  /** [loss, hits] of the shard. */
  out: SharedArrayBuffer;
  text: SharedArrayBuffer;
}

interface Replica {
  worker: Worker;
  ctl: Int32Array;
  grads: Float32Array;
  x: Float32Array;
  y: Float32Array;
  out: Float64Array;
  text: Uint8Array;
  seq: number;
}

/**
 * How many replicas a run gets: the explicit value, else $S4OP_REPLICAS, else (auto) one per core up to 4
 * — but 1 when the backend is native TensorFlow (already multi-threaded) or the model uses BatchNorm
 * (its batch statistics would differ per shard), or when there is too little work per step to pay for
 * the hand-off.
 */
export function resolveReplicas(
  requested: number | undefined,
  model: SequenceModel,
  batchSize: number,
  length: number,
): number {
  const env = process.env.S4OP_REPLICAS;
  let n = requested;
  if (n === undefined && env !== undefined && env !== '') {
    n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`S4OP_REPLICAS must be a positive integer, got "${env}"`);
  }
  if (n !== undefined && (!Number.isInteger(n) || n < 1))
    throw new Error(`replicas must be a positive integer, got ${n}`);
  if (model.config.norm === 'batch' || tf.getBackend() === 'tensorflow') return 1;
  if (n !== undefined) return Math.min(n, batchSize);
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  // Below ~256k positions × channels per step a shard takes a few ms: the hand-off would not pay.
  if (batchSize * length * model.config.dModel < 1 << 18) return 1;
  return Math.max(1, Math.min(4, cores, batchSize));
}

/**
 * Starts the replica worker. From dist it is plain JS; from sources (tsx, vitest) it is TypeScript, which a
 * worker thread of Node 20 cannot load through the parent's ESM hooks: it is required through tsx's
 * in-thread CommonJS hook instead.
 */
function startWorker(data: ReplicaWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./replica-worker.js', import.meta.url), { workerData: data });
  const hook = createRequire(import.meta.url).resolve('tsx/cjs');
  const file = fileURLToPath(new URL('./replica-worker.ts', import.meta.url));
  return new Worker(`require(${JSON.stringify(hook)}); require(${JSON.stringify(file)});`, {
    eval: true,
    workerData: data,
  });
}

export class ReplicaPool {
  private readonly replicas: Replica[] = [];
  private readonly params: Float32Array;
  private readonly layout: ReplicaWorkerData['layout'];
  private readonly ssmThreadsBefore: number;
  private closed = false;

  /**
   * Starts `count − 1` workers for `model` (the main thread is replica 0) and waits until each has built its
   * model. `maxShard` bounds the examples per shard; `xShape` is one example's x shape ([L] tokens or
   * [L, inputSize]).
   */
  constructor(
    private readonly model: SequenceModel,
    readonly count: number,
    opts: { maxShard: number; xShape: number[]; startTimeoutMs?: number },
  ) {
    const c = model.config;
    const trainable = model.params.trainable();
    let offset = 0;
    this.layout = trainable.map((p) => {
      const entry = { name: p.name, shape: [...p.variable.shape], offset, size: p.variable.size };
      offset += p.variable.size;
      return entry;
    });
    const total = offset;
    const paramsSab = new SharedArrayBuffer(total * 4);
    this.params = new Float32Array(paramsSab);
    // Buffer sizes per example: x values, and y values (a class id, or a multi-hot row).
    const xPerExample = opts.xShape.reduce((a, b) => a * b, 1);
    const yPerExample = c.multiLabel ? c.numClasses : 1;
    const startTimeoutMs = opts.startTimeoutMs ?? 120_000;
    // Each replica's SSM convolution runs on its own thread: the cores are the replicas now.
    this.ssmThreadsBefore = ssmThreadInfo().threads;
    configureSsmThreads({ threads: 1 });
    try {
      for (let r = 1; r < count; r++) {
        const data: ReplicaWorkerData = {
          backend: tf.getBackend(),
          config: c,
          active: model.activeOperators(),
          layout: this.layout,
          xShape: opts.xShape,
          ctl: new SharedArrayBuffer(CTL_INTS * 4),
          params: paramsSab,
          grads: new SharedArrayBuffer(total * 4),
          x: new SharedArrayBuffer(opts.maxShard * xPerExample * 4),
          y: new SharedArrayBuffer(opts.maxShard * yPerExample * 4),
          out: new SharedArrayBuffer(16),
          text: new SharedArrayBuffer(TEXT_BYTES),
        };
        const worker = startWorker(data);
        worker.unref();
        // Failures surface through the control block (or the start timeout); never as an uncaught error.
        worker.on('error', () => {});
        this.replicas.push({
          worker,
          ctl: new Int32Array(data.ctl),
          grads: new Float32Array(data.grads),
          x: new Float32Array(data.x),
          y: new Float32Array(data.y),
          out: new Float64Array(data.out),
          text: new Uint8Array(data.text),
          seq: 0,
        });
      }
      const deadline = Date.now() + startTimeoutMs;
      for (const [i, r] of this.replicas.entries()) {
        const state = waitWhile(r.ctl, CTL.ready, 0, deadline);
        if (state === 0) throw new Error(`data-parallel replica ${i + 1} did not start within ${startTimeoutMs} ms`);
        if (state < 0) throw new Error(`data-parallel replica ${i + 1} failed to start: ${message(r)}`);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /**
   * Gradients of the mean loss over the whole batch, computed in shards: the same quantity a single
   * replica would compute (up to float rounding and the per-shard dropout masks).
   */
  gradients(
    x: tf.Tensor,
    y: tf.Tensor,
    seed: number,
    local: (x: tf.Tensor, y: tf.Tensor, seed: number) => BatchGradients,
  ): BatchGradients {
    if (this.closed) throw new Error('data-parallel replicas are closed');
    const n = x.shape[0]!;
    const sizes = shardSizes(n, this.count);
    this.publishParams();
    // Shards 1… go to the workers first, so they compute while this thread does shard 0.
    const xv = x.dataSync();
    const yv = y.dataSync();
    const xPer = xv.length / n;
    const yPer = yv.length / n;
    let start = sizes[0]!;
    const posted: { r: Replica; size: number }[] = [];
    for (let k = 1; k < sizes.length; k++) {
      const size = sizes[k]!;
      if (size === 0) continue;
      const r = this.replicas[k - 1]!;
      if (size * xPer > r.x.length || size * yPer > r.y.length) {
        throw new Error(`data-parallel shard of ${size} examples does not fit the buffers sized at start`);
      }
      r.x.set(xv.subarray(start * xPer, (start + size) * xPer));
      r.y.set(yv.subarray(start * yPer, (start + size) * yPer));
      start += size;
      r.ctl[CTL.command] = 1;
      r.ctl[CTL.shard] = size;
      r.ctl[CTL.seed] = shardSeed(seed, k);
      r.seq = Atomics.add(r.ctl, CTL.seq, 1) + 1;
      Atomics.notify(r.ctl, CTL.seq);
      posted.push({ r, size });
    }
    const n0 = sizes[0]!;
    const [x0, y0] = tf.tidy(() => [tf.slice(x, 0, n0), tf.slice(y, 0, n0)]);
    let own: BatchGradients;
    try {
      own = local(x0!, y0!, shardSeed(seed, 0));
    } catch (err) {
      // The workers still hold this step's shards: let them finish before the buffers are reused.
      this.wait(
        posted.map((p) => p.r),
        { quiet: true },
      );
      throw err;
    } finally {
      x0!.dispose();
      y0!.dispose();
    }
    this.wait(posted.map((p) => p.r));
    // Weighted mean of the shard gradients, accumulated in float32 on this thread.
    let loss = own.loss * n0;
    let hits = own.hits;
    const grads = new Map<string, tf.Tensor>();
    for (const e of this.layout) {
      const g0 = own.grads.get(e.name);
      const acc = new Float32Array(e.size);
      if (g0) {
        const v = g0.dataSync();
        for (let i = 0; i < e.size; i++) acc[i] = v[i]! * n0;
        g0.dispose();
      }
      for (const { r, size } of posted) {
        const g = r.grads.subarray(e.offset, e.offset + e.size);
        for (let i = 0; i < e.size; i++) acc[i]! += g[i]! * size;
      }
      for (let i = 0; i < e.size; i++) acc[i]! /= n;
      grads.set(e.name, tf.tensor(acc, e.shape, 'float32'));
    }
    for (const { r, size } of posted) {
      loss += r.out[0]! * size;
      hits += r.out[1]!;
    }
    return { grads, loss: loss / n, hits };
  }

  private publishParams(): void {
    for (const e of this.layout) this.params.set(this.model.params.get(e.name).dataSync() as Float32Array, e.offset);
  }

  /** Waits for the replicas' current jobs; a failure closes the pool and throws (unless `quiet`). */
  private wait(replicas: Replica[], opts: { quiet?: boolean; timeoutMs?: number } = {}): void {
    const timeoutMs = opts.timeoutMs ?? 600_000;
    let failure = '';
    for (const r of replicas) {
      if (waitWhile(r.ctl, CTL.done, r.seq - 1, Date.now() + timeoutMs) !== r.seq)
        failure ||= `a data-parallel replica did not finish its shard within ${timeoutMs / 1000} s`;
      else if (r.ctl[CTL.status] !== 0) failure ||= `a data-parallel replica failed: ${message(r)}`;
    }
    if (failure) {
      this.close();
      if (!opts.quiet) throw new Error(failure);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.replicas) {
      r.ctl[CTL.command] = -1;
      Atomics.add(r.ctl, CTL.seq, 1);
      Atomics.notify(r.ctl, CTL.seq);
      void r.worker.terminate();
    }
    configureSsmThreads({ threads: this.ssmThreadsBefore });
  }
}

/** Splits n examples into `parts` shards as evenly as possible (the first ones get the remainder). */
export function shardSizes(n: number, parts: number): number[] {
  const base = Math.floor(n / parts);
  return Array.from({ length: parts }, (_, k) => base + (k < n % parts ? 1 : 0));
}

/** Dropout seed of shard k: distinct per shard, deterministic from the step's seed. */
export function shardSeed(seed: number, k: number): number {
  return k === 0 ? seed : (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + k * 0x632be5ab) | 0;
}

function message(r: Replica): string {
  const bytes = Math.min(Atomics.load(r.ctl, CTL.textBytes), TEXT_BYTES);
  return new TextDecoder().decode(r.text.slice(0, bytes)) || 'no message';
}
