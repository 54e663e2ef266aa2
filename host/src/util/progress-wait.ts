/**
 * A progress bar for a wait whose length is only roughly known (a measurement on an agent: warm-up plus
 * the timed runs): it advances with the clock against the expected duration, holds just short of the end
 * until the work is done, then closes. Quiet with `quiet` (--json); off a terminal only the closing line is written.
 */
import { Progress } from './progress.js';

export async function waitWithProgress<T>(
  work: Promise<T>,
  label: string,
  expectedMs: number,
  opts: { quiet?: boolean } = {},
): Promise<T> {
  if (opts.quiet) return work;
  const total = Math.max(1, Math.round(expectedMs / 100));
  const bar = new Progress(label, total, { quiet: opts.quiet });
  const started = Date.now();
  const timer = setInterval(() => {
    const elapsed = Date.now() - started;
    bar.update(
      Math.min(total - 1, Math.floor(elapsed / 100)),
      `${(elapsed / 1000).toFixed(1)} s of ~${(expectedMs / 1000).toFixed(1)} s`,
    );
  }, 250);
  try {
    const result = await work;
    bar.update(total);
    bar.done();
    return result;
  } finally {
    clearInterval(timer);
  }
}

/** What a measurement should take on the agent: warm-up, the timed runs, and about a second of loading. */
export function expectedMeasureMs(settings: { warmup_ms?: number; min_duration_ms?: number }, models = 1): number {
  return models * ((settings.warmup_ms ?? 250) + (settings.min_duration_ms ?? 1000)) + 1000;
}
