/** What `s4op workers` shows: the workers connected to the queue, its jobs by state and their timings. */
import { Queue } from 'bullmq';
import { checkRedis, QUEUE_NAME, redisClient, type FineTuneResult, type JobData } from './connection.js';

export interface JobView {
  id: string;
  state: string;
  candidate: string;
  worker?: string;
  attempts: number;
  /** Enqueued → started, started → finished, in ms (null until known). */
  wait_ms: number | null;
  run_ms: number | null;
  failed?: string;
}

export interface QueueStatus {
  workers: { name: string; addr: string; age_s: number }[];
  counts: Record<string, number>;
  jobs: JobView[];
}

export async function queueStatus(url: string, limit = 50): Promise<QueueStatus> {
  await checkRedis(url);
  // Fails fast when Redis is away: this is a look, not a run.
  const connection = redisClient(url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  connection.on('error', () => undefined);
  const queue = new Queue<JobData>(QUEUE_NAME, { connection });
  queue.on('error', () => undefined);
  try {
    // BullMQ reports the queue's name as `name`; the worker's own is after ":w:" in the client's raw name.
    const workers = (await queue.getWorkers()).map((w) => ({
      name: (w as { rawname?: string }).rawname?.split(':w:')[1] ?? '?',
      addr: w.addr ?? '?',
      age_s: Number(w.age ?? 0),
    }));
    const counts = await queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'failed', 'completed');
    const jobs: JobView[] = [];
    for (const state of ['active', 'waiting', 'delayed', 'failed', 'completed'] as const) {
      for (const j of await queue.getJobs([state], 0, limit - 1)) {
        const d = j.data;
        const r = j.returnvalue as Partial<FineTuneResult> | null;
        jobs.push({
          id: j.id ?? '?',
          state,
          candidate: d.kind === 'finetune' ? `step ${d.job.step} (${d.job.rate}%) seed ${d.job.j}` : d.kind,
          worker: r?.worker ?? (j.processedBy || undefined),
          attempts: j.attemptsMade,
          wait_ms: j.processedOn ? j.processedOn - j.timestamp : null,
          run_ms: j.processedOn && j.finishedOn ? j.finishedOn - j.processedOn : null,
          failed: state === 'failed' ? j.failedReason : undefined,
        });
      }
    }
    return { workers, counts, jobs };
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
