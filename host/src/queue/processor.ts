/**
 * The sandboxed processor: BullMQ runs it in a child process per concurrent job, so the worker process
 * keeps renewing locks and answering Redis while tfjs holds this process's thread for minutes. It fetches
 * the parent checkpoint (verified), rebuilds the dataset from its spec, runs the search's own fine-tune
 * (prune/candidate.ts) and uploads the result. Failures that a retry cannot fix are UnrecoverableError.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UnrecoverableError, type SandboxedJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { initBackend } from '../backend.js';
import { reloadDataset, type Dataset } from '../data/dataset.js';
import { fineTuneCandidate } from '../prune/candidate.js';
import { BlobError, bundle, getBlob, putBlob, unbundle } from './blobs.js';
import {
  redisClient,
  versionMismatch,
  workerName,
  type FineTuneJobData,
  type FineTuneResult,
  type JobData,
} from './connection.js';

// A child whose worker died must not go on computing a job that another worker will take over.
process.on('disconnect', () => process.exit(1));

let redis: Redis | undefined;
const blobStore = () => (redis ??= redisClient(process.env.S4OP_QUEUE_REDIS ?? ''));
const datasets = new Map<string, Promise<Dataset>>();
let backend: string | undefined;

export default async function process_(job: SandboxedJob<JobData>): Promise<FineTuneResult | { pong: true }> {
  const refused = versionMismatch(job.data.version);
  if (refused) throw new UnrecoverableError(refused);
  if (job.data.kind === 'ping') return { pong: true };
  return fineTune(job.data);
}

async function fineTune(d: FineTuneJobData): Promise<FineTuneResult> {
  if (backend && backend !== d.backend)
    throw new Error(`this process computes on ${backend}, the job asks for ${d.backend}`);
  backend = (await initBackend(d.backend)).name;
  const t0 = performance.now();
  let parent: Buffer;
  try {
    parent = await getBlob(blobStore(), d.parent_sha256, 'parent checkpoint');
  } catch (err) {
    // A corrupt blob stays corrupt: retrying the job cannot help.
    throw err instanceof BlobError ? new UnrecoverableError(err.message) : err;
  }
  const work = await mkdtemp(path.join(os.tmpdir(), 's4op-worker-'));
  try {
    const parentDir = path.join(work, 'parent');
    await unbundle(parent, parentDir).catch((err: Error) => {
      throw new UnrecoverableError(`parent checkpoint: ${err.message}`);
    });
    const t1 = performance.now();
    const data = await dataset(d.dataset);
    const t2 = performance.now();
    const replicas = process.env.S4OP_WORKER_REPLICAS ? Number(process.env.S4OP_WORKER_REPLICAS) : undefined;
    const job = { ...d.job, fineTune: { ...d.job.fineTune, ...(replicas ? { replicas } : {}) } };
    const dir = path.join(work, 'candidate');
    const tuned = await fineTuneCandidate(parentDir, dir, job, data, {
      log: (l) => console.log(`[${workerName()}] ${l}`),
      quiet: true,
    }).catch((err: Error) => {
      // The same inputs fail the same way on any worker (a checkpoint that does not load, a bad option).
      throw new UnrecoverableError(`fine-tune failed: ${err.message}`);
    });
    const t3 = performance.now();
    const blob = await putBlob(blobStore(), await bundle(dir));
    const t4 = performance.now();
    const { dir: _dir, ...rest } = tuned;
    return {
      ...rest,
      blob_sha256: blob,
      worker: workerName(),
      timings: { fetch_ms: t1 - t0, data_ms: t2 - t1, finetune_ms: t3 - t2, upload_ms: t4 - t3 },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The run's dataset, rebuilt here from its spec (once per process). */
function dataset(spec: FineTuneJobData['dataset']): Promise<Dataset> {
  const key = JSON.stringify(spec);
  let p = datasets.get(key);
  if (!p) {
    p = reloadDataset(spec).catch((err: Error) => {
      datasets.delete(key);
      throw new UnrecoverableError(`this worker cannot rebuild the run's dataset: ${err.message}`);
    });
    datasets.set(key, p);
  }
  return p;
}
