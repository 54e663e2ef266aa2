import type { Command } from 'commander';
import { emit, userCheck, userCheckAsync } from '../util.js';
import { redisOptions } from '../../queue/connection.js';
import { queueStatus } from '../../queue/status.js';

const sec = (ms: number | null) => (ms === null ? '-' : (ms / 1000).toFixed(1));

export function register(program: Command): void {
  program
    .command('workers')
    .description('the fine-tune queue: connected workers, jobs running, queued and failed, per-job timings')
    .requiredOption('--redis <url>', 'the Redis of the queue (redis://HOST:PORT or rediss://…)')
    .option('--limit <n>', 'jobs shown per state', (v) => Number(v), 20)
    .option('--json', 'print JSON')
    .action(async (opts: { redis: string; limit: number; json?: boolean }) => {
      userCheck(() => redisOptions(opts.redis), '--redis: ');
      const s = await userCheckAsync(() => queueStatus(opts.redis, opts.limit), 'cannot read the queue: ');
      emit(opts, s, () => {
        const c = s.counts;
        const lines = [
          `workers: ${s.workers.length}${s.workers.map((w) => `\n  ${w.name} (${w.addr}, connected ${w.age_s} s)`).join('')}`,
          `jobs: ${c.active ?? 0} running, ${(c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0)} queued, ${c.failed ?? 0} failed, ${c.completed ?? 0} completed`,
        ];
        if (s.jobs.length) {
          lines.push('state      wait s  run s  tries  worker                 candidate / job');
          for (const j of s.jobs)
            lines.push(
              `${j.state.padEnd(9)} ${sec(j.wait_ms).padStart(7)} ${sec(j.run_ms).padStart(6)} ${String(j.attempts).padStart(6)}  ${(j.worker ?? '-').padEnd(22)} ${j.candidate} ${j.id}${j.failed ? `\n          failed: ${j.failed}` : ''}`,
            );
        }
        return lines.join('\n');
      });
    });
}
