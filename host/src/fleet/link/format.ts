/** Human text for one measurement: the figures `s4op bench` prints. */
import type { Measurement } from '@s4op/shared';

const ms = (v: number) => (v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(3) : v.toFixed(4));

export function formatMeasurement(m: Measurement, agentName: string, names: string[] = []): string {
  const lines: string[] = [];
  const s = m.settings;
  lines.push(
    `agent ${agentName}: ${m.runtime.name} ${m.runtime.version} (${Object.entries(m.runtime.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')})`,
  );
  lines.push(
    `settings: warm-up ≥${s.warmup_ms} ms and ≥${s.warmup_runs} runs; timed ≥${s.min_duration_ms} ms and ≥${s.min_samples} samples (≤${s.max_samples}); ${Math.round(s.confidence * 100)} % CI; timeout ${s.timeout_ms} ms`,
  );
  m.models.forEach((f, i) => {
    const label = m.mode === 'ab' ? (i === 0 ? 'A' : 'B') : 'model';
    const l = f.latency_ms;
    lines.push(
      `${label} ${names[i] ?? ''} ${f.sha256.slice(0, 12)}… ${(f.size_bytes / 1024).toFixed(1)} KiB, inputs ${f.inputs.map((x) => `${x.name}:${x.dtype}[${x.shape.join(',')}]`).join(' ')}`.replace(
        / +/g,
        ' ',
      ),
    );
    lines.push(`  load ${ms(f.load_ms)} ms, first run ${ms(f.first_run_ms)} ms`);
    lines.push(
      `  latency ms (n=${l.n}): min ${ms(l.min)}  median ${ms(l.median)} [${ms(l.median_ci.low)}, ${ms(l.median_ci.high)}]  mean ${ms(l.mean)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  std ${ms(l.std)}`,
    );
    if (f.achieved_gflops !== undefined) {
      const peak = m.device_peak;
      const frac =
        f.peak_fraction != null && peak
          ? `, ${(f.peak_fraction * 100).toFixed(1)} % of this device's MatMul peak (${peak.matmul_gflops} GFLOP/s at ${peak.threads} thread${peak.threads === 1 ? '' : 's'})`
          : ', device peak not measured';
      lines.push(
        `  work ${((f.declared_flops ?? 0) / 1e6).toFixed(2)} MFLOP per run: ${f.achieved_gflops.toFixed(2)} GFLOP/s${frac}`,
      );
    }
    if (f.profile) lines.push(...formatProfile(f.profile));
    else if (f.profile === null) lines.push(`  profile: not available (${f.profile_error ?? 'no reason given'})`);
  });
  if (m.ratio) {
    const r = m.ratio;
    lines.push(
      `ratio B/A (n=${r.n} interleaved pairs): median ${r.median.toFixed(4)} [${r.median_ci.low.toFixed(4)}, ${r.median_ci.high.toFixed(4)}], std ${r.std.toFixed(4)}`,
    );
  }
  const mem = m.memory_mb;
  if (mem)
    lines.push(
      `memory MB: baseline ${mem.baseline_rss.toFixed(1)}, +${mem.load_added.toFixed(1)} by load, +${mem.first_run_added.toFixed(1)} by first run, peak ${mem.peak_rss.toFixed(1)}`,
    );
  else lines.push('memory MB: not available from this agent');
  const br = m.browser;
  if (br) {
    const mm = br.memory
      ? `page memory ${br.memory.before_load_mb.toFixed(1)} MB before load, ${br.memory.after_runs_mb.toFixed(1)} MB after the runs`
      : `page memory not available (${br.memory_unavailable ?? 'no reason given'})`;
    lines.push(
      `browser: ${br.cross_origin_isolated ? 'cross-origin isolated' : 'not isolated'}; ${mm}${br.hidden ? '  ** TAB HIDDEN during the job: figures may be throttled **' : ''}`,
    );
  }
  const t = m.thermal;
  const snap = (x: typeof t.before) =>
    `${x.temperature_c ?? '?'} °C, ${x.cpu_mhz ?? '?'} MHz${x.throttle ? `, ${x.throttle.source} ${x.throttle.flags.join('+') || 'ok'}` : ''}`;
  lines.push(
    `thermal: before ${snap(t.before)}; after ${snap(t.after)}${t.throttled ? '  ** THROTTLED: figures not trustworthy **' : ''}`,
  );
  const bl = m.background_load;
  if (bl) {
    lines.push(
      `background load: other processes used ${(bl.other_cpu_fraction * 100).toFixed(0)} % of the CPU (${bl.other_cpu_cores.toFixed(2)} of ${bl.cores} cores), load average ${bl.loadavg_1m ?? '?'}${bl.busy ? `  ** BUSY (over ${Math.round(bl.busy_threshold * 100)} %): figures disturbed **` : ''}`,
    );
  } else if (bl === null) {
    lines.push('background load: not readable on this agent (no /proc/stat)');
  }
  lines.push(`warm-up ${m.warmup.runs} runs in ${m.warmup.ms.toFixed(0)} ms; whole job ${m.duration_ms} ms`);
  return lines.join('\n');
}

type Profile = NonNullable<Measurement['models'][number]['profile']>;

/** Where one model's time goes (profiled kernel ms per run; the profiler slows small nodes down). */
export function formatProfile(p: Profile): string[] {
  const out = [`  profile (${p.runs} runs, kernels ${ms(p.kernel_ms)} of ${ms(p.run_ms)} ms per profiled run):`];
  if (p.by_section) {
    const parts = Object.entries(p.by_section).map(([s, t]) => {
      const g = p.gflops_by_section?.[s];
      return `${s} ${ms(t)} ms (${p.kernel_ms > 0 ? Math.round((100 * t) / p.kernel_ms) : 0} %${g !== undefined ? `, ${g.toFixed(1)} GFLOP/s` : ''})`;
    });
    out.push(`    by section: ${parts.join(', ')}`);
  }
  const ops = Object.entries(p.by_op_type).sort((a, b) => b[1] - a[1]);
  out.push(
    `    by node type: ${ops
      .slice(0, 8)
      .map(([o, t]) => `${o} ${ms(t)}`)
      .join(', ')}${ops.length > 8 ? `, ${ops.length - 8} more` : ''}`,
  );
  return out;
}
