/**
 * Background load as the agent sees it: /proc/stat's counters over a window, less our own CPU time. A real
 * process spinning one core, started by the test, must show up in it; excluding that process's own CPU time
 * (as the agent excludes its measurement process) must take it out again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BUSY_THRESHOLD, backgroundLoad, parseProcStat, processCpuMs, readCpu } from '../../agent/src/measure/load.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const linux = existsSync('/proc/stat');
let spinner: ChildProcess | null = null;

afterEach(() => {
  spinner?.kill('SIGKILL');
  spinner = null;
});

async function window(ms: number) {
  const start = (await readCpu())!;
  await sleep(ms);
  const end = (await readCpu())!;
  return { start, end };
}

describe('background load', () => {
  it('parses /proc/stat: busy excludes idle and iowait, cores from the per-CPU lines', () => {
    const text = [
      'cpu  100 20 30 1000 50 5 5 10 7 0',
      'cpu0 50 10 15 500 25 2 3 5 4 0',
      'cpu1 50 10 15 500 25 3 2 5 3 0',
      'intr 12345',
    ].join('\n');
    // busy = 100+20+30+5+5+10 = 170 ticks, total = 170+1000+50 = 1220 ticks; 10 ms per tick
    expect(parseProcStat(text)).toEqual({ busyMs: 1700, totalMs: 12200, cores: 2 });
    expect(parseProcStat('intr 1\n')).toBeNull();
    expect(parseProcStat('cpu a b c d\n')).toBeNull();
  });

  it('computes the fraction of the machine other processes used, and flags a busy job', () => {
    const start = { busyMs: 0, totalMs: 0, cores: 4, selfMs: 0 };
    // 4 cores for 1 s = 4000 ms of capacity; 1800 ms busy, of which 200 ours and 600 the measurement's
    const end = { busyMs: 1800, totalMs: 4000, cores: 4, selfMs: 200 };
    const l = backgroundLoad(start, end, 600, 1.5);
    expect(l).toEqual({
      other_cpu_fraction: 0.25,
      other_cpu_cores: 1,
      cores: 4,
      loadavg_1m: 1.5,
      busy: false,
      busy_threshold: BUSY_THRESHOLD,
    });
    expect(backgroundLoad(start, { ...end, busyMs: 1900 }, 600, null)).toMatchObject({
      other_cpu_fraction: 0.275,
      busy: true,
    });
    // never negative, never above the machine
    expect(backgroundLoad(start, end, 10_000, null).other_cpu_fraction).toBe(0);
    expect(backgroundLoad(start, { ...end, busyMs: 9000 }, 0, null).other_cpu_fraction).toBe(1);
  });

  it.skipIf(!linux)(
    'rises with a real process spinning one core, and excluding its CPU time takes it out',
    async () => {
      const idle = await window(1000);
      const reference = backgroundLoad(idle.start, idle.end, 0);

      spinner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
      await sleep(300); // past Node's start-up
      const pid = spinner.pid!;
      const spin0 = (await processCpuMs(pid))!;
      const busy = await window(1500);
      const spin1 = (await processCpuMs(pid))!;
      const spinnerMs = spin1 - spin0;
      const capacityMs = busy.end.totalMs - busy.start.totalMs;

      const loaded = backgroundLoad(busy.start, busy.end, 0);
      const excluded = backgroundLoad(busy.start, busy.end, spinnerMs);
      // the spinner got most of a core (the machine is shared: at least a third of one)
      expect(spinnerMs / (capacityMs / busy.end.cores)).toBeGreaterThan(0.33);
      // /proc/stat's busy time includes it (its CPU time read independently from /proc/PID/stat)
      const spinnerCores = spinnerMs / (capacityMs / busy.end.cores);
      expect(loaded.other_cpu_cores).toBeGreaterThanOrEqual(0.9 * spinnerCores);
      // and the others' share rose against the reference window — when that window left a core free: on a
      // machine other jobs already saturate, a spinner takes their time rather than adding to the total
      if (reference.other_cpu_cores < busy.end.cores - 1.25)
        expect(loaded.other_cpu_cores).toBeGreaterThan(reference.other_cpu_cores + 0.25);
      // counted as ours, it is gone again
      expect(excluded.other_cpu_cores).toBeLessThan(loaded.other_cpu_cores - 0.25);
      expect(loaded.busy).toBe(loaded.other_cpu_fraction > BUSY_THRESHOLD);
      expect(loaded.cores).toBe(busy.end.cores);
      expect(loaded.loadavg_1m).toEqual(expect.any(Number));
    },
  );

  it('reads no process that does not exist', async () => {
    expect(await processCpuMs(2 ** 30)).toBeNull();
    if (linux) expect(await processCpuMs(process.pid)).toBeGreaterThan(0);
  });
});
