/**
 * The report's charts as Vega-Lite specs, built only from a RunReport's numbers. The HTML report and the
 * live dashboard render the same specs (to SVG, on the host).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RunReport } from './data.js';

export type ChartId =
  'metric' | 'ratio' | 'latency' | 'pareto' | 'profile' | 'allocation' | 'distribution' | 'thermals';

export interface ChartSpec {
  id: ChartId;
  title: string;
  /** One sentence under the title: what is plotted and from where. */
  caption: string;
  spec: TopLevelSpec;
}

const WIDTH = 340;
const HEIGHT = 260;
const pct = (v: number | null) => (v == null ? null : Math.round(v * 1e4) / 100);
const round = (v: number | null, d = 4) => (v == null ? null : Number(v.toFixed(d)));

const base = (title: string): Partial<TopLevelSpec> => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title,
  width: WIDTH,
  height: HEIGHT,
  background: 'white',
  config: { font: 'sans-serif', axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 220 } },
});

/** A chart with nothing to plot yet says so (an empty log axis would read "Infinity to NaN"). */
function note(id: ChartId, title: string, caption: string, chartTitle: string, text: string): ChartSpec {
  return {
    id,
    title,
    caption,
    spec: {
      ...base(chartTitle),
      height: 60,
      data: { values: [{ text }] },
      mark: { type: 'text', align: 'left', x: 0, y: 30, fontSize: 12 },
      encoding: { text: { field: 'text', type: 'nominal' } },
    } as TopLevelSpec,
  };
}

/** Rows of finished candidates with the fields the charts plot, in percent and milliseconds. */
function points(r: RunReport) {
  return r.candidates
    .filter((c) => c.status === 'finished')
    .map((c) => ({
      candidate: c.label,
      strategy: r.strategy,
      step: c.step,
      pruned_pct: pct(c.pruned),
      val_pct: pct(c.val_metric),
      test_pct: pct(c.test_metric),
      p50_ms: round(c.p50_ms),
      p90_ms: round(c.p90_ms),
      ratio: round(c.ratio),
      ratio_low: round(c.ratio_low),
      ratio_high: round(c.ratio_high),
      jobs: c.p50_jobs.length,
      p50_min_ms: round(c.p50_jobs.length ? Math.min(...c.p50_jobs) : c.p50_ms),
      p50_max_ms: round(c.p50_jobs.length ? Math.max(...c.p50_jobs) : c.p50_ms),
      flags: c.flags.join('; '),
      kind: c.cost_kind ?? 'none',
      chosen: r.chosen?.id === c.id,
      pareto: c.pareto,
      picked: c.chosen || c.step === 0,
    }));
}

export function metricChart(r: RunReport): ChartSpec {
  // Another run under the same strategy label stays apart: its id joins the label.
  const labels = new Map<string, string>();
  const own = r.strategy;
  for (const p of r.comparison) {
    const taken = p.strategy === own || [...labels].some(([id, l]) => id !== p.run_id && l === p.strategy);
    if (!labels.has(p.run_id)) labels.set(p.run_id, taken ? `${p.strategy} (${p.run_id})` : p.strategy);
  }
  const values = [
    ...points(r),
    ...r.comparison.map((p) => ({
      candidate: `${p.run_id}: ${p.label}`,
      strategy: labels.get(p.run_id)!,
      pruned_pct: pct(p.pruned),
      val_pct: pct(p.val_metric),
      picked: p.picked,
    })),
  ];
  if (!values.length)
    return note(
      'metric',
      'Validation metric vs operators pruned',
      `${r.metric} of every candidate.`,
      'Metric vs operators pruned',
      'No finished candidate yet.',
    );
  return {
    id: 'metric',
    title: 'Validation metric vs operators pruned',
    caption: `${r.metric} of every candidate (points) and of the candidate kept at each step (line), per strategy: this run${r.comparison.length ? ' and the other runs of the workspace from the same base checkpoint' : ''}.`,
    spec: {
      ...base('Metric vs operators pruned'),
      data: { values },
      layer: [
        {
          transform: [{ filter: 'datum.picked' }],
          mark: { type: 'line', point: false },
          encoding: {
            x: { field: 'pruned_pct', type: 'quantitative' },
            y: { field: 'val_pct', type: 'quantitative' },
            color: { field: 'strategy', type: 'nominal' },
            order: { field: 'pruned_pct', type: 'quantitative' },
          },
        },
        {
          mark: { type: 'point', filled: true, size: 60 },
          encoding: {
            x: { field: 'pruned_pct', type: 'quantitative', title: 'operators pruned (%)' },
            y: { field: 'val_pct', type: 'quantitative', title: 'validation metric (%)', scale: { zero: false } },
            color: { field: 'strategy', type: 'nominal', title: 'strategy' },
            tooltip: [{ field: 'candidate' }, { field: 'val_pct' }, { field: 'test_pct' }],
          },
        },
      ],
    } as TopLevelSpec,
  };
}

export function ratioChart(r: RunReport): ChartSpec {
  const values = points(r).filter((p) => p.ratio != null);
  const title = 'Latency ratio to the base vs operators pruned';
  const caption =
    'Each candidate timed interleaved with the base in one job on the same agent: median of the per-pair ratios (points) and its confidence interval (bars). The search decides on these; red = flagged (slower than its parent, or the board was busy).';
  if (!values.length) return note('ratio', title, caption, 'Paired latency ratio', 'No paired measurement yet.');
  return {
    id: 'ratio',
    title,
    caption,
    spec: {
      ...base('Paired latency ratio'),
      data: { values },
      layer: [
        {
          mark: { type: 'rule' },
          encoding: {
            x: { field: 'pruned_pct', type: 'quantitative' },
            y: { field: 'ratio_low', type: 'quantitative' },
            y2: { field: 'ratio_high' },
          },
        },
        {
          mark: { type: 'point', size: 60, filled: true },
          encoding: {
            x: { field: 'pruned_pct', type: 'quantitative', title: 'operators pruned (%)' },
            y: { field: 'ratio', type: 'quantitative', title: 'latency / base (paired)', scale: { zero: false } },
            color: { condition: { test: "datum.flags !== ''", value: '#d62728' }, value: '#1f77b4' },
            tooltip: [
              { field: 'candidate' },
              { field: 'ratio' },
              { field: 'ratio_low' },
              { field: 'ratio_high' },
              { field: 'flags' },
            ],
          },
        },
      ],
    } as TopLevelSpec,
  };
}

export function latencyChart(r: RunReport): ChartSpec {
  const values = points(r).filter((p) => p.p50_ms != null);
  if (!values.length)
    return note(
      'latency',
      'Absolute latency vs operators pruned',
      'Median latency of each candidate.',
      'Latency vs operators pruned',
      'No candidate measured yet.',
    );
  return {
    id: 'latency',
    title: 'Absolute latency vs operators pruned',
    caption:
      'p50 of each candidate in its latest job (points) and the spread of its p50 over the separate jobs it was timed in (bars: lowest to highest; the base is in every paired job). Absolutes drift between jobs; decisions use the paired ratio. Hollow = estimated, not measured.',
    spec: {
      ...base('Latency vs operators pruned'),
      data: { values },
      layer: [
        {
          mark: { type: 'rule' },
          encoding: {
            x: { field: 'pruned_pct', type: 'quantitative' },
            y: { field: 'p50_min_ms', type: 'quantitative' },
            y2: { field: 'p50_max_ms' },
          },
        },
        {
          mark: { type: 'point', size: 60 },
          encoding: {
            x: { field: 'pruned_pct', type: 'quantitative', title: 'operators pruned (%)' },
            y: { field: 'p50_ms', type: 'quantitative', title: 'p50 latency (ms)', scale: { zero: false } },
            fill: { condition: { test: "datum.kind === 'measured'", value: '#1f77b4' }, value: 'transparent' },
            color: { value: '#1f77b4' },
            tooltip: [
              { field: 'candidate' },
              { field: 'p50_ms' },
              { field: 'p90_ms' },
              { field: 'jobs' },
              { field: 'p50_min_ms' },
              { field: 'p50_max_ms' },
              { field: 'kind' },
            ],
          },
        },
      ],
    } as TopLevelSpec,
  };
}

export function paretoChart(r: RunReport): ChartSpec {
  const values = points(r)
    .filter((p) => p.ratio != null && p.val_pct != null)
    .map((p) => ({ ...p, role: p.chosen ? 'chosen' : p.pareto ? 'Pareto front' : 'dominated' }));
  if (!values.length)
    return note(
      'pareto',
      'Pareto front (metric vs paired latency ratio)',
      'Candidates with both a metric and a paired latency ratio.',
      'Pareto front',
      'No finished, measured candidate yet.',
    );
  return {
    id: 'pareto',
    title: 'Pareto front (metric vs paired latency ratio)',
    caption:
      'Candidates not beaten on both validation metric and latency ratio to the base form the front (line), the figures the search decided on; the chosen model is the star and is always on the front.',
    spec: {
      ...base('Pareto front'),
      data: { values },
      layer: [
        {
          transform: [{ filter: 'datum.pareto' }],
          mark: { type: 'line', interpolate: 'step-after', color: '#888' },
          encoding: {
            x: { field: 'ratio', type: 'quantitative', sort: 'ascending' },
            y: { field: 'val_pct', type: 'quantitative' },
          },
        },
        {
          mark: { type: 'point', filled: true },
          encoding: {
            x: { field: 'ratio', type: 'quantitative', title: 'latency / base (paired)', scale: { zero: false } },
            y: { field: 'val_pct', type: 'quantitative', title: 'validation metric (%)', scale: { zero: false } },
            color: {
              field: 'role',
              type: 'nominal',
              title: null,
              scale: { domain: ['chosen', 'Pareto front', 'dominated'], range: ['#d62728', '#1f77b4', '#bbb'] },
            },
            shape: {
              field: 'role',
              type: 'nominal',
              title: null,
              scale: { domain: ['chosen', 'Pareto front', 'dominated'], range: ['diamond', 'circle', 'circle'] },
            },
            size: { condition: { test: 'datum.chosen', value: 220 }, value: 60 },
            tooltip: [{ field: 'candidate' }, { field: 'val_pct' }, { field: 'ratio' }, { field: 'role' }],
          },
        },
      ],
    } as TopLevelSpec,
  };
}

export function profileChart(r: RunReport): ChartSpec {
  const profiled = r.candidates.filter((c) => c.profile);
  const values = profiled.flatMap((c) =>
    Object.entries(c.profile!.ms).map(([part, ms]) => ({ candidate: c.label, part, ms: round(ms), by: c.profile!.by })),
  );
  const title = 'Where the time goes';
  const caption =
    "onnxruntime's profiling pass on the agent after the timed runs (the base and the answer always; every candidate with --profile): each part's share of the kernel time applied to that job's p50. Parts are the sections of our export (SSM, mixing, norms, rest), or node types for other models.";
  if (!values.length)
    return note(
      'profile',
      title,
      caption,
      'Time by part',
      'No candidate profiled (estimates, or an agent whose runtime cannot profile).',
    );
  return {
    id: 'profile',
    title,
    caption,
    spec: {
      ...base('Time by part'),
      height: Math.max(80, 30 * profiled.length),
      data: { values },
      mark: { type: 'bar' },
      encoding: {
        y: { field: 'candidate', type: 'ordinal', title: null, sort: profiled.map((c) => c.label) },
        x: { field: 'ms', type: 'quantitative', title: 'ms per run', stack: 'zero' },
        color: { field: 'part', type: 'nominal', title: 'part', sort: ['ssm', 'mixing', 'norm', 'other'] },
        tooltip: [{ field: 'candidate' }, { field: 'part' }, { field: 'ms' }],
      },
    } as TopLevelSpec,
  };
}

export function allocationChart(r: RunReport): ChartSpec {
  const values = r.candidates.flatMap((c) =>
    (c.active_per_layer ?? []).map((active, layer) => ({
      candidate: c.label,
      id: c.id,
      layer: `layer ${layer}`,
      active,
    })),
  );
  const order = r.candidates.filter((c) => c.active_per_layer).map((c) => c.label);
  if (!values.length)
    return note(
      'allocation',
      'Active operators per layer',
      'Operators still active per layer.',
      'Per-layer allocation of active operators',
      'No finished candidate yet.',
    );
  return {
    id: 'allocation',
    title: 'Active operators per layer',
    caption:
      'How each candidate spreads its remaining operators over depth (cell = operators still active in that layer).',
    spec: {
      ...base('Per-layer allocation of active operators'),
      width: Math.min(WIDTH, 70 * Math.max(1, ...r.candidates.map((c) => c.active_per_layer?.length ?? 0))),
      height: Math.max(120, 22 * order.length),
      data: { values },
      encoding: {
        x: { field: 'layer', type: 'ordinal', title: 'layer' },
        y: { field: 'candidate', type: 'ordinal', title: null, sort: order },
      },
      layer: [
        {
          mark: 'rect',
          encoding: {
            color: { field: 'active', type: 'quantitative', title: 'active', scale: { scheme: 'blues', zero: true } },
          },
        },
        {
          mark: { type: 'text', fontSize: 10 },
          encoding: { text: { field: 'active', type: 'quantitative' }, color: { value: '#222' } },
        },
      ],
    } as TopLevelSpec,
  };
}

export function distributionChart(r: RunReport): ChartSpec {
  const values = r.candidates
    .filter((c) => c.latency)
    .map((c) => ({
      candidate: c.label,
      n: c.latency!.n,
      min: round(c.latency!.min),
      median: round(c.latency!.median),
      p90: round(c.latency!.p90),
      p99: round(c.latency!.p99),
      max: round(c.latency!.max),
    }));
  const order = values.map((v) => v.candidate);
  const title = 'Latency distribution per candidate';
  const caption =
    "Each candidate's timed runs as the agent summarised them: line min–p99, box median–p90, tick at the median (log scale).";
  if (!values.length)
    return note(
      'distribution',
      title,
      caption,
      'Latency distributions',
      'No candidate timed on an agent yet (estimates carry no distribution).',
    );
  return {
    id: 'distribution',
    title,
    caption,
    spec: {
      ...base('Latency distributions'),
      height: Math.max(120, 22 * order.length),
      data: { values },
      encoding: { y: { field: 'candidate', type: 'ordinal', title: null, sort: order } },
      layer: [
        {
          mark: { type: 'rule' },
          encoding: {
            x: { field: 'min', type: 'quantitative', title: 'latency (ms)', scale: { type: 'log' } },
            x2: { field: 'p99' },
          },
        },
        {
          mark: { type: 'bar', size: 12, color: '#9ecae1' },
          encoding: { x: { field: 'median', type: 'quantitative' }, x2: { field: 'p90' } },
        },
        {
          mark: { type: 'tick', color: '#08519c', thickness: 2, size: 14 },
          encoding: {
            x: { field: 'median', type: 'quantitative' },
            tooltip: [
              { field: 'candidate' },
              { field: 'n' },
              { field: 'min' },
              { field: 'median' },
              { field: 'p90' },
              { field: 'p99' },
              { field: 'max' },
            ],
          },
        },
      ],
    } as TopLevelSpec,
  };
}

export function thermalsChart(r: RunReport): ChartSpec {
  const readings = r.thermals.flatMap((t, i) => [
    ...(t.temperature_c != null
      ? [
          {
            i,
            candidate: t.candidate,
            phase: t.phase,
            quantity: 'temperature (°C)',
            value: t.temperature_c,
            throttled: t.throttled,
          },
        ]
      : []),
    ...(t.cpu_mhz != null
      ? [
          {
            i,
            candidate: t.candidate,
            phase: t.phase,
            quantity: 'CPU clock (MHz)',
            value: t.cpu_mhz,
            throttled: t.throttled,
          },
        ]
      : []),
  ]);
  const caption = 'Temperature and CPU clock the agent read before and after each measurement; red = throttled.';
  if (!readings.length) {
    const n = r.candidates.filter((c) => c.cost_kind === 'measured').length;
    const throttled = new Set(r.thermals.filter((t) => t.throttled).map((t) => t.candidate)).size;
    const text = n
      ? `${n} measured candidates: the device reported no temperature or clock readings; ${throttled} throttled.`
      : 'No candidate measured on a device yet.';
    return note('thermals', 'Thermals during the measurements', caption, 'Thermals', text);
  }
  return {
    id: 'thermals',
    title: 'Thermals during the measurements',
    caption,
    spec: {
      ...base('Thermals'),
      data: { values: readings },
      facet: { row: { field: 'quantity', type: 'nominal', title: null } },
      spec: {
        width: WIDTH,
        height: 110,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'i', type: 'quantitative', title: 'reading (before/after each measurement)' },
          y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
          color: { condition: { test: 'datum.throttled', value: '#d62728' }, value: '#1f77b4' },
          tooltip: [{ field: 'candidate' }, { field: 'phase' }, { field: 'value' }, { field: 'throttled' }],
        },
      },
      resolve: { scale: { y: 'independent' } },
    } as unknown as TopLevelSpec,
  };
}

export function reportCharts(r: RunReport): ChartSpec[] {
  return [
    metricChart(r),
    ratioChart(r),
    latencyChart(r),
    paretoChart(r),
    profileChart(r),
    allocationChart(r),
    distributionChart(r),
    thermalsChart(r),
  ];
}
