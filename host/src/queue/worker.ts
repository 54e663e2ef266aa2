/**
 * `s4op worker`: takes fine-tune jobs from the queue and runs each in a sandboxed child process
 * (processor.ts). Lock and stall timings:
 * - lockDuration 15 s: the lock is renewed every 7.5 s by this (idle) process, never by the busy child, so it
 *   holds however long a fine-tune takes; a worker that dies (SIGKILL, power loss) frees its job 15 s later.
 * - stalledInterval 5 s: how often a live worker looks for such expired locks, so a dead worker's job is
 *   retried within about 20 s instead of the 60 s of BullMQ's defaults.
 * - maxStalledCount 2: a job that has lost its worker twice fails instead of killing worker after worker.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'bullmq';
import { QUEUE_NAME, redisClient, workerName, WIRE_VERSION, type JobData } from './connection.js';

export const LOCK_DURATION_MS = 15_000;
export const STALLED_INTERVAL_MS = 5_000;

export interface WorkerOptions {
  url: string;
  concurrency: number;
  /** Data-parallel replicas of each fine-tune (default: the trainer's own rule). */
  replicas?: number;
  log: (line: string) => void;
}

export async function startWorker(o: WorkerOptions): Promise<{ worker: Worker<JobData>; close(): Promise<void> }> {
  const connection = redisClient(o.url);
  // The children inherit these: the processor's Redis (for blobs) and the replicas.
  process.env.S4OP_QUEUE_REDIS = o.url;
  if (o.replicas) process.env.S4OP_WORKER_REPLICAS = String(o.replicas);
  const name = workerName();
  const worker = new Worker<JobData>(QUEUE_NAME, fileURLToPath(new URL('./processor.js', import.meta.url)), {
    connection,
    concurrency: o.concurrency,
    name,
    useWorkerThreads: false,
    lockDuration: LOCK_DURATION_MS,
    stalledInterval: STALLED_INTERVAL_MS,
    maxStalledCount: 2,
  });
  worker.on('active', (job) => o.log(`job ${job.id} started (attempt ${job.attemptsMade + 1})`));
  worker.on('completed', (job) =>
    o.log(`job ${job.id} done in ${((job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now())) / 1000} s`),
  );
  worker.on('failed', (job, err) => o.log(`job ${job?.id ?? '?'} failed: ${err.message}`));
  // While Redis is away the same error repeats at every reconnect: said once, until it changes.
  let lastError = '';
  worker.on('error', (err) => {
    if (err.message !== lastError) o.log(`worker error (retrying): ${err.message}`);
    lastError = err.message;
  });
  worker.on('ready', () => (lastError = ''));
  await worker.waitUntilReady();
  o.log(
    `worker ${name} (s4op ${WIRE_VERSION.package}, protocol ${WIRE_VERSION.protocol}) ready on queue ${QUEUE_NAME}: concurrency ${o.concurrency}${o.replicas ? `, ${o.replicas} replica(s)` : ''}`,
  );
  return {
    worker,
    async close() {
      await worker.close();
      await connection.quit().catch(() => undefined);
    },
  };
}
