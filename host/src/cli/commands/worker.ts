import type { Command } from 'commander';
import { parseCount as int } from '../options.js';
import { log, userCheck } from '../util.js';
import { redisOptions } from '../../queue/connection.js';
import { startWorker } from '../../queue/worker.js';

export function register(program: Command): void {
  program
    .command('worker')
    .description("take fine-tune jobs from a prune run's queue (s4op prune --queue) until stopped")
    .requiredOption(
      '--redis <url>',
      'the Redis of the queue: redis://[user:password@]HOST:PORT[/db] or rediss://… (TLS)',
    )
    .option('--concurrency <n>', 'jobs at once, each in its own process', int, 1)
    .option('--replicas <n>', 'data-parallel replicas of each fine-tune (default: the trainer decides)', int)
    .action(async (opts: { redis: string; concurrency: number; replicas?: number }) => {
      userCheck(() => redisOptions(opts.redis), '--redis: ');
      const worker = await startWorker({
        url: opts.redis,
        concurrency: opts.concurrency,
        replicas: opts.replicas,
        log,
      });
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          log(`${sig}: finishing the jobs in hand, then stopping`);
          void worker.close().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
