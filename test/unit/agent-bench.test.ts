import { describe, expect, it } from 'vitest';
import { timeRuns } from '@s4op/agent';

/** Busy-waits `ms`: a run with a known cost, so the loop's arithmetic can be checked. */
const busy = (ms: number) => async () => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
};

const base = { warmup_ms: 0, warmup_runs: 0, min_duration_ms: 0, min_samples: 1, max_samples: 1_000_000 };

describe('timing loop', () => {
  it('stops only when both the minimum samples and the minimum duration are reached', async () => {
    const bySamples = await timeRuns([busy(0.2)], { ...base, min_samples: 30, min_duration_ms: 1 });
    expect(bySamples.samples[0]!.length).toBe(30);
    const t0 = performance.now();
    const byTime = await timeRuns([busy(1)], { ...base, min_samples: 5, min_duration_ms: 60 });
    // went on past 5 samples because 60 ms had not passed, and stopped soon after they had
    expect(performance.now() - t0).toBeGreaterThanOrEqual(60);
    expect(byTime.samples[0]!.length).toBeGreaterThan(5);
    expect(byTime.samples[0]!.length).toBeLessThanOrEqual(61);
    for (const s of byTime.samples[0]!) expect(s).toBeGreaterThanOrEqual(1);
    const capped = await timeRuns([busy(0.1)], { ...base, min_samples: 500, max_samples: 40 });
    expect(capped.samples[0]!.length).toBe(40);
  });

  it('warms up by time and by count', async () => {
    const byCount = await timeRuns([busy(0.1)], { ...base, warmup_runs: 25, warmup_ms: 1 });
    expect(byCount.warmup.runs).toBe(25);
    const byTime = await timeRuns([busy(1)], { ...base, warmup_runs: 2, warmup_ms: 30 });
    expect(byTime.warmup.runs).toBeGreaterThan(2);
    expect(byTime.warmup.runs).toBeLessThanOrEqual(31);
    expect(byTime.warmup.ms).toBeGreaterThanOrEqual(30);
  });

  it('interleaves A and B, alternating which goes first, and pairs their ratios', async () => {
    const order: string[] = [];
    const a = busy(0.5);
    const b = busy(1.0);
    const r = await timeRuns([async () => (order.push('A'), a()), async () => (order.push('B'), b())], {
      ...base,
      min_samples: 20,
    });
    expect(order.slice(0, 8)).toEqual(['A', 'B', 'B', 'A', 'A', 'B', 'B', 'A']);
    expect(r.ratios).toHaveLength(20);
    r.ratios!.forEach((q, i) => expect(q).toBeCloseTo(r.samples[1]![i]! / r.samples[0]![i]!, 12));
    const sorted = [...r.ratios!].sort((x, y) => x - y);
    expect(sorted[10]!).toBeGreaterThan(1.6);
    expect(sorted[10]!).toBeLessThan(2.4);
  });

  it('rejects zero or three models', async () => {
    await expect(timeRuns([], base)).rejects.toThrow(/one or two models/);
  });
});
