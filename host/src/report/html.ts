/** The run report as one self-contained HTML file: inline SVG charts, tables, no scripts or links out. */
import type { ReportAgent, ReportCandidate, RunReport } from './data.js';
import { tunedLabel } from '../export/tuned.js';
import { axisPath } from '../prune/report.js';
import type { ChartId } from './charts.js';

export interface RenderedChart {
  id: ChartId;
  title: string;
  caption: string;
  svg: string;
}

export function esc(v: unknown): string {
  return String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

const pct = (v: number | null) => (v == null ? '–' : (100 * v).toFixed(2));
const ms = (v: number | null) => (v == null ? '–' : v < 10 ? v.toFixed(3) : v.toFixed(1));
const ratioCell = (r: ReportCandidate) =>
  r.ratio == null
    ? '–'
    : r.paired_jobs === 0
      ? '1'
      : `${r.ratio.toFixed(3)} [${r.ratio_low!.toFixed(3)}, ${r.ratio_high!.toFixed(3)}]${r.paired_jobs! > 1 ? ` (${r.paired_jobs} jobs)` : ''}`;

export const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1240px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0 0 2px}
.meta{color:#555;margin-bottom:16px}.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:18px}
figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:10px;background:#fff;overflow:auto}
figcaption{color:#555;font-size:12px;margin-bottom:6px}
table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}th,td{border-bottom:1px solid #e4e4e4;padding:3px 8px;text-align:right}
th{background:#f6f6f6}td.l,th.l{text-align:left}tr.chosen td{background:#fff3e0;font-weight:600}
.pill{display:inline-block;padding:0 6px;border-radius:8px;background:#e8f0fe;font-size:12px}
.flag{display:inline-block;padding:0 6px;border-radius:8px;background:#fdecea;color:#b71c1c;font-size:12px}
`;

export function chartFigure(c: RenderedChart): string {
  return `<figure id="chart-${c.id}" data-chart="${c.id}"><h2>${esc(c.title)}</h2><figcaption>${esc(c.caption)}</figcaption>${c.svg}</figure>`;
}

/** The profiled time by export section as shares ("ssm 78 % · mixing 12 % · …"), or – when not profiled. */
function sectionShares(t: Record<string, number> | null): string {
  if (!t) return '–';
  const total = Object.values(t).reduce((a, v) => a + v, 0);
  return total > 0
    ? Object.entries(t)
        .map(([s, v]) => `${esc(s)} ${Math.round((100 * v) / total)} %`)
        .join(' · ')
    : '–';
}

export function candidatesTable(rows: readonly ReportCandidate[], chosenId: number | null): string {
  const head =
    '<tr><th class="l">candidate</th><th>pruned %</th><th>active</th><th>val %</th><th>test %</th><th>ratio to base [95% CI]</th><th>p50 ms</th><th>p90 ms</th><th>mem MB</th><th>GFLOP/s</th><th>% of peak</th><th>other CPU</th><th class="l">time by section</th><th>params</th><th class="l">measured on</th><th class="l">status</th></tr>';
  const body = rows
    .map(
      (r) =>
        `<tr data-candidate="${r.id}"${r.id === chosenId ? ' class="chosen"' : ''}><td class="l">${esc(r.label)}</td><td>${(100 * r.pruned).toFixed(1)}</td>` +
        `<td>${r.operators_active ?? '–'}/${r.operators_total ?? '–'}</td><td>${pct(r.val_metric)}</td><td>${pct(r.test_metric)}</td>` +
        `<td>${ratioCell(r)}${r.flags.length ? ` <span class="flag" title="${esc(r.flags.join('; '))}">${esc(r.flags.join('; '))}</span>` : ''}</td>` +
        `<td>${ms(r.p50_ms)}${r.cost_kind === 'estimate' ? '*' : ''}</td><td>${ms(r.p90_ms)}</td><td>${r.rss_mb == null ? '–' : r.rss_mb.toFixed(1)}</td>` +
        `<td>${r.achieved_gflops == null ? '–' : r.achieved_gflops.toFixed(1)}</td><td>${r.peak_fraction == null ? '–' : (100 * r.peak_fraction).toFixed(1)}</td>` +
        `<td${r.busy ? ' class="busy" title="measured while other processes kept the board busy"' : ''}>${r.other_cpu_fraction == null ? '–' : `${Math.round(100 * r.other_cpu_fraction)} %${r.busy ? ' busy' : ''}`}</td>` +
        `<td class="l">${sectionShares(r.time_by_section)}</td>` +
        `<td>${r.params ?? '–'}</td><td class="l">${esc(r.measured_on ?? '–')}</td>` +
        `<td class="l">${r.id === chosenId ? 'chosen' : r.status === 'running' ? 'running' : ''}${r.pareto ? ' <span class="pill">Pareto</span>' : ''}</td></tr>`,
    )
    .join('');
  return `<table id="candidates">${head}${body}</table>`;
}

/** The path through the axes (a run with more than one axis): each step's move, its ratio and metric. */
export function pathSection(rows: readonly ReportCandidate[]): string {
  const path = axisPath(rows);
  if (!path.some((r) => r.axis !== 'operators' && r.step > 0)) return '';
  const cells = path
    .map(
      (r) =>
        `<tr data-step="${r.step}"><td>${r.step}</td><td class="l">${r.step === 0 ? 'base' : esc(r.axis)}</td><td class="l">${esc(r.label)}</td>` +
        `<td>${(100 * r.pruned).toFixed(1)}</td><td>${r.state_rate}</td><td class="l">${esc(r.precision)}</td><td>${pct(r.val_metric)}</td><td>${ratioCell(r)}</td></tr>`,
    )
    .join('');
  return `<h2>Path through the axes</h2>\n<table id="axis-path"><tr><th>step</th><th class="l">axis</th><th class="l">candidate</th><th>operators pruned %</th><th>states pruned %</th><th class="l">precision</th><th>val %</th><th>ratio to base</th></tr>${cells}</table>\n`;
}

export function deviceTable(agents: readonly ReportAgent[]): string {
  if (!agents.length) return '<p id="devices">No candidate was measured by an agent (estimates only).</p>';
  const rows = agents.map((a) => {
    const d = a.device;
    const rts = a.runtimes
      .filter((r) => r.available)
      .map((r) => `${r.name} ${r.version ?? ''}`)
      .join(', ');
    return d
      ? `<tr data-agent="${esc(a.name)}"><td class="l">${esc(a.name)}</td><td class="l">${esc(d.board_model ?? d.cpu_model)}</td><td>${d.cores}</td>` +
          `<td>${d.cpu_max_mhz ?? '–'}</td><td>${Math.round(d.memory_total_mb)}</td><td class="l">${esc(`${d.os} ${d.arch}`)}</td>` +
          `<td>${d.temperature_c ?? '–'}</td><td class="l">${esc(rts)}</td><td class="l">${esc(a.tags.join(', '))}</td><td>${a.measurements}</td></tr>`
      : `<tr data-agent="${esc(a.name)}"><td class="l">${esc(a.name)}</td><td class="l" colspan="8">device facts not recorded (the agent was not registered in this workspace: run the search through s4op serve)</td><td>${a.measurements}</td></tr>`;
  });
  return `<table id="devices"><tr><th class="l">agent</th><th class="l">board / CPU</th><th>cores</th><th>max MHz</th><th>memory MB</th><th class="l">OS</th><th>°C</th><th class="l">runtimes</th><th class="l">tags</th><th>measurements</th></tr>${rows.join('')}</table>`;
}

export function reportHtml(r: RunReport, charts: readonly RenderedChart[]): string {
  const c = r.chosen;
  const dataset = (r.run.dataset as { spec?: { source?: string } } | null)?.spec?.source ?? '?';
  const chosenLine = c
    ? `Chosen: <b>${esc(c.label)}</b> — ${(100 * c.pruned).toFixed(1)} % of operators pruned, validation ${pct(c.val_metric)} % (base ${pct(r.base?.val_metric ?? null)} %), latency ${c.ratio == null ? '–' : `${c.ratio.toFixed(3)}×`} the base's, paired (p50 ${ms(c.p50_ms)} ms; base ${ms(r.base?.p50_ms ?? null)} ms).`
    : 'No candidate chosen yet.';
  const ex = r.exportSettings;
  const exportLine = ex
    ? ` · <span id="export">export ${esc(ex.mode)}, variant ${esc(ex.tuned ? tunedLabel(ex.tuned) : ex.variant)}</span>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>S4oP run ${esc(r.run.id)}</title><style>${STYLE}</style></head>
<body>
<h1>S4oP pruning run <code>${esc(r.run.id)}</code></h1>
<div class="meta">status <b>${esc(r.run.status)}</b>${r.run.stop_reason ? ` (${esc(r.run.stop_reason)})` : ''} · strategy ${esc(r.strategy)} · dataset ${esc(dataset)} · base checkpoint <code>${esc(r.run.base_checkpoint)}</code>${exportLine} · started ${esc(r.run.created_at)} · report ${esc(r.generated_at)}</div>
<p id="chosen">${chosenLine}</p>
<div class="charts">${charts.map(chartFigure).join('\n')}</div>
${pathSection(r.candidates)}<h2>Candidates</h2>
${candidatesTable(r.candidates, c?.id ?? null)}
<h2>Measuring agents</h2>
${deviceTable(r.agents)}
</body></html>
`;
}
