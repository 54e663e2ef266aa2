/**
 * The host's side of the queue: fine-tunes a candidate by a worker. The job id is the candidate's
 * (run, step, seed, and a digest of the job's inputs), so a host restarted with `--resume` finds the job it left in flight (or its
 * result) instead of adding a second one, and a job retried after a worker died yields one candidate.
 * The host polls the job's state rather than trusting events alone: a job lost with a Redis restart (no
 * persistence) is seen gone and enqueued again, blobs and all.
 */
import { readCheckpointConfig } from '../model/checkpoint.js';
import { canonicalJson } from '../store/run-store.js';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { CandidateFailure, type CandidateJob, type FineTuned, type FineTuner } from '../prune/candidate.js';
import { BlobError, bundle, getBlob, putBlob, sha256, unbundle } from './blobs.js';
import {
  QUEUE_NAME,
  redisClient,
  WIRE_VERSION,
  type FineTuneJobData,
  type FineTuneResult,
  type JobData,
} from './connection.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const POLL_MS = 20;
/** Retries of a job whose worker failed for a reason that may pass (Redis gone mid-upload, …). */
const ATTEMPTS = 3;

/**
 * Waits for job `id` to complete or fail for good (retries pending are waited for); 'gone' when the job
 * vanished (Redis lost it). Polled every POLL_MS: events would be faster by a few ms but are lost across a
 * Redis restart, and a poll also sees a job that is no longer there.
 */
export async function settleJob(
  queue: Queue<JobData>,
  id: string,
  closed: () => boolean = () => false,
): Promise<'gone' | { result?: unknown; failed?: string }> {
  for (;;) {
    if (closed()) throw new Error('the queue was closed');
    const j: Job<JobData> | undefined = await queue.getJob(id);
    if (!j) return 'gone';
    if (j.finishedOn) {
      if (j.failedReason && !j.returnvalue) return { failed: j.failedReason };
      if (j.returnvalue) return { result: j.returnvalue };
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export class QueueFineTuner implements FineTuner {
  readonly queue: Queue<JobData>;
  private readonly redis: Redis;
  private readonly parents = new Map<string, Promise<{ hash: string; buf: Buffer }>>();
  private closed = false;

  constructor(
    url: string,
    private readonly o: {
      runId: string;
      backend: string;
      /** The run's dataset spec (data.info.spec). */
      dataset: Record<string, unknown>;
      log: (line: string) => void;
    },
  ) {
    this.redis = redisClient(url);
    this.queue = new Queue<JobData>(QUEUE_NAME, { connection: this.redis });
    this.queue.on('error', () => undefined);
    this.redis.on('error', () => {
      // ioredis reconnects by itself; the poll loop reports what matters (a lost job).
    });
  }

  async fineTune(parentDir: string, dir: string, job: CandidateJob): Promise<FineTuned> {
    const parent = await this.parent(parentDir);
    const data: FineTuneJobData = {
      kind: 'finetune',
      version: WIRE_VERSION,
      backend: this.o.backend,
      parent_sha256: parent.hash,
      dataset: this.o.dataset,
      job,
    };
    // The id names everything the result depends on (parent, data, options, version): a resumed host finds
    // its own job, and a run of the same id elsewhere with other settings never picks up this one's result.
    const digest = sha256(Buffer.from(canonicalJson(data))).slice(0, 16);
    const id = `${this.o.runId}.s${job.step}.j${job.j}.r${job.rate}.${digest}`;
    let fresh = true;
    for (;;) {
      // (Re-)stored each round: cheap, refreshes the expiry, and restores it after a Redis restart.
      await putBlob(this.redis, parent.buf);
      let j: Job<JobData> | undefined = await this.queue.getJob(id);
      if (j && fresh && (await j.isFailed())) {
        // Failed in an earlier host process: this one gives it a fresh start.
        await j.remove();
        j = undefined;
      }
      fresh = false;
      if (!j) {
        j = await this.queue.add('finetune', data, {
          jobId: id,
          attempts: ATTEMPTS,
          backoff: { type: 'fixed', delay: 1000 },
          removeOnComplete: { age: 24 * 3600 },
          removeOnFail: { age: 24 * 3600 },
        });
        this.o.log(`step ${job.step} (${job.rate}%) seed ${job.j}: queued as job ${id}`);
      }
      const end = await settleJob(this.queue, id, () => this.closed);
      if (end === 'gone') {
        this.o.log(`job ${id} is gone from Redis (restarted?): queueing it again`);
        continue;
      }
      if (end.failed) throw new CandidateFailure(`job ${id} failed: ${end.failed}`);
      const r = end.result as FineTuneResult;
      try {
        const buf = await getBlob(this.redis, r.blob_sha256, 'candidate');
        await unbundle(buf, dir);
      } catch (err) {
        if (!(err instanceof BlobError)) throw err;
        // The worker's upload is lost or damaged: fine-tune again rather than keep a bad candidate.
        this.o.log(`job ${id}: ${err.message}; queueing it again`);
        await this.queue.remove(id).catch(() => undefined);
        continue;
      }
      const cfg = await readCheckpointConfig(dir);
      const weights = sha256(await readFile(path.join(dir, 'model.safetensors')));
      if (weights !== r.weights_sha256 || cfg.weights_sha256 !== weights)
        throw new CandidateFailure(`job ${id}: the returned weights do not match their recorded sha256`);
      return { ...r, dir };
    }
  }

  /** The parent checkpoint's bundle and hash, once per directory. */
  private parent(dir: string): Promise<{ hash: string; buf: Buffer }> {
    let p = this.parents.get(dir);
    if (!p) {
      p = bundle(dir).then((buf) => ({ hash: sha256(buf), buf }));
      this.parents.set(dir, p);
    }
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    // Bounded: with Redis away, BullMQ's close would wait for a reconnect that may never come.
    await Promise.race([this.queue.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    this.redis.disconnect();
  }
}
