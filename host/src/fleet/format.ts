/** Human text for one measurement: the figures `s4op bench` prints. */
import type { Measurement } from '@s4op/shared';

const ms = (v: number) => (v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(3) : v.toFixed(4));

export function formatMeasurement(m: Measurement, agentName: string, names: string[] = []): string {
  const lines: string[] = [];
  const s = m.settings;
  lines.push(`agent ${agentName}: ${m.runtime.name} ${m.runtime.version} (${Object.entries(m.runtime.settings).map(([k, v]) => `${k}=${v}`).join(', ')})`);
  lines.push(`settings: warm-up ≥${s.warmup_ms} ms and ≥${s.warmup_runs} runs; timed ≥${s.min_duration_ms} ms and ≥${s.min_samples} samples (≤${s.max_samples}); ${Math.round(s.confidence * 100)} % CI; timeout ${s.timeout_ms} ms`);
  m.models.forEach((f, i) => {
    const label = m.mode === 'ab' ? (i === 0 ? 'A' : 'B') : 'model';
    const l = f.latency_ms;
    lines.push(`${label} ${names[i] ?? ''} ${f.sha256.slice(0, 12)}… ${(f.size_bytes / 1024).toFixed(1)} KiB, inputs ${f.inputs.map((x) => `${x.name}:${x.dtype}[${x.shape.join(',')}]`).join(' ')}`.replace(/ +/g, ' '));
    lines.push(`  load ${ms(f.load_ms)} ms, first run ${ms(f.first_run_ms)} ms`);
    lines.push(`  latency ms (n=${l.n}): min ${ms(l.min)}  median ${ms(l.median)} [${ms(l.median_ci.low)}, ${ms(l.median_ci.high)}]  mean ${ms(l.mean)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  std ${ms(l.std)}`);
  });
  if (m.ratio) {
    const r = m.ratio;
    lines.push(`ratio B/A (n=${r.n} interleaved pairs): median ${r.median.toFixed(4)} [${r.median_ci.low.toFixed(4)}, ${r.median_ci.high.toFixed(4)}], std ${r.std.toFixed(4)}`);
  }
  const mem = m.memory_mb;
  lines.push(`memory MB: baseline ${mem.baseline_rss.toFixed(1)}, +${mem.load_added.toFixed(1)} by load, +${mem.first_run_added.toFixed(1)} by first run, peak ${mem.peak_rss.toFixed(1)}`);
  const t = m.thermal;
  const snap = (x: typeof t.before) => `${x.temperature_c ?? '?'} °C, ${x.cpu_mhz ?? '?'} MHz${x.throttle ? `, ${x.throttle.source} ${x.throttle.flags.join('+') || 'ok'}` : ''}`;
  lines.push(`thermal: before ${snap(t.before)}; after ${snap(t.after)}${t.throttled ? '  ** THROTTLED: figures not trustworthy **' : ''}`);
  lines.push(`warm-up ${m.warmup.runs} runs in ${m.warmup.ms.toFixed(0)} ms; whole job ${m.duration_ms} ms`);
  return lines.join('\n');
}
