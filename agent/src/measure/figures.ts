/**
 * Raw figures of a measurement (timing samples, loads, first runs) turned into the protocol's Measurement:
 * summaries, confidence intervals, achieved GFLOP/s. Pure and runtime-neutral: the node agent (measure.ts)
 * and the browser agent (browser/worker.ts) both build their results here.
 */
import { summarize, type DevicePeak, type Measurement, type MeasureSettings } from '@s4op/shared';
import type { ChildFigures } from './measure-child.js';

const MB = 2 ** 20;

/** The child's figures; `rss` null where the process's memory cannot be read (a browser). */
export type FigureSource = Omit<ChildFigures, 'rss' | 'cpu_ms'> & { rss: ChildFigures['rss'] | null; cpu_ms?: number };

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** A model's figures, with achieved GFLOP/s, the peak fraction and the profile's rates where they apply. */
function modelFigures(
  m: ChildFigures['models'][number],
  settings: MeasureSettings,
  peak: DevicePeak | null,
): Measurement['models'][number] {
  const latency = summarize(m.samples, settings.confidence);
  const out: Measurement['models'][number] = {
    sha256: m.sha256,
    size_bytes: m.size_bytes,
    inputs: m.inputs,
    load_ms: m.load_ms,
    first_run_ms: m.first_run_ms,
    latency_ms: latency,
  };
  const d = m.declared;
  if (d) {
    const flops = d.flops * d.batch;
    out.declared_flops = flops;
    out.achieved_gflops = latency.median > 0 ? round(flops / (latency.median * 1e6), 4) : 0;
    out.peak_fraction = peak ? round(out.achieved_gflops / peak.matmul_gflops, 4) : null;
  }
  if (m.profile !== undefined) {
    const p = m.profile;
    // A section's time: its share of the profiled kernel time applied to the un-profiled median, since the
    // profiler's own overhead inflates small nodes the most.
    const gflops =
      p && p.by_section && d?.by_section && p.kernel_ms > 0
        ? Object.fromEntries(
            Object.entries(d.by_section).map(([s, f]) => {
              const ms = ((p.by_section![s] ?? 0) / p.kernel_ms) * latency.median;
              return [s, ms > 0 ? round((f * d.batch) / (ms * 1e6), 3) : 0];
            }),
          )
        : null;
    out.profile = p ? { ...p, gflops_by_section: gflops } : null;
    if (m.profile_error) out.profile_error = m.profile_error.slice(0, 1024);
  }
  return out;
}

export function toMeasurement(
  f: FigureSource,
  settings: MeasureSettings,
  extra: Pick<Measurement, 'thermal' | 'started_at' | 'duration_ms'> &
    Partial<Pick<Measurement, 'background_load' | 'device_peak' | 'browser'>>,
): Measurement {
  const conf = settings.confidence;
  return {
    runtime: f.runtime,
    settings,
    mode: f.models.length === 2 ? 'ab' : 'single',
    models: f.models.map((m) => modelFigures(m, settings, extra.device_peak ?? null)),
    ratio: f.ratios ? summarize(f.ratios, conf) : null,
    warmup: f.warmup,
    // A browser tab cannot read its resident set: null, never a made-up figure.
    memory_mb: f.rss
      ? {
          baseline_rss: f.rss.baseline / MB,
          after_load_rss: f.rss.after_load / MB,
          after_first_run_rss: f.rss.after_first_run / MB,
          peak_rss: f.rss.peak / MB,
          load_added: (f.rss.after_load - f.rss.baseline) / MB,
          first_run_added: (f.rss.after_first_run - f.rss.after_load) / MB,
        }
      : null,
    ...extra,
  };
}
