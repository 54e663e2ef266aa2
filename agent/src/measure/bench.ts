/**
 * The timing loop that runs inside the measurement process: warm-up by time and count, then timed runs
 * until both a minimum duration and a minimum number of samples are reached. In A/B mode two sessions are
 * interleaved (A B, B A, A B, …) so slow drift — heat, clock changes, background load — hits both alike,
 * and each pair gives one ratio.
 */
import type { MeasureSettings } from '@s4op/shared';

export type RunOnce = () => Promise<void>;

export interface TimedRuns {
  warmup: { runs: number; ms: number };
  /** Per model: latency of each timed run in ms. */
  samples: number[][];
  /** A/B only: latency(B) / latency(A) per interleaved pair. */
  ratios: number[] | null;
}

type LoopSettings = Pick<
  MeasureSettings,
  'warmup_ms' | 'warmup_runs' | 'min_duration_ms' | 'min_samples' | 'max_samples'
>;

async function timeOne(run: RunOnce): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

/** Runs `runs` (one per model; two in A/B mode) under the loop settings. */
export async function timeRuns(runs: RunOnce[], settings: LoopSettings): Promise<TimedRuns> {
  if (runs.length < 1 || runs.length > 2) throw new Error(`timeRuns takes one or two models, got ${runs.length}`);
  const w0 = performance.now();
  let warmRuns = 0;
  while (warmRuns < settings.warmup_runs || performance.now() - w0 < settings.warmup_ms) {
    for (const run of runs) await run();
    warmRuns++;
  }
  const warmup = { runs: warmRuns, ms: performance.now() - w0 };

  const samples: number[][] = runs.map(() => []);
  const ratios: number[] | null = runs.length === 2 ? [] : null;
  const t0 = performance.now();
  let n = 0;
  while (n < settings.max_samples && (n < settings.min_samples || performance.now() - t0 < settings.min_duration_ms)) {
    if (runs.length === 1) {
      samples[0]!.push(await timeOne(runs[0]!));
    } else {
      // Alternate the order so neither model always runs right after the other's cache footprint.
      const aFirst = n % 2 === 0;
      let a: number;
      let b: number;
      if (aFirst) {
        a = await timeOne(runs[0]!);
        b = await timeOne(runs[1]!);
      } else {
        b = await timeOne(runs[1]!);
        a = await timeOne(runs[0]!);
      }
      samples[0]!.push(a);
      samples[1]!.push(b);
      ratios!.push(b / a);
    }
    n++;
  }
  return { warmup, samples, ratios };
}
