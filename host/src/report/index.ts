/** A run's report: data from the run store, Vega-Lite charts rendered to SVG, one HTML file. */
import type { RunStore } from '../store/run-store.js';
import { reportCharts } from './charts.js';
import { loadRunReport, type RunReport } from './data.js';
import { reportHtml, type RenderedChart } from './html.js';
import { renderSvg } from './render.js';

export { loadRunReport, candidateLabel, type RunReport, type ReportCandidate, type ReportAgent } from './data.js';
export { reportCharts, type ChartId, type ChartSpec } from './charts.js';
export { reportHtml, candidatesTable, deviceTable, type RenderedChart } from './html.js';
export { renderSvg } from './render.js';

export async function renderCharts(report: RunReport): Promise<RenderedChart[]> {
  const out: RenderedChart[] = [];
  // One at a time: vega views are cheap, and order keeps the page stable.
  for (const c of reportCharts(report))
    out.push({ id: c.id, title: c.title, caption: c.caption, svg: await renderSvg(c.spec) });
  return out;
}

export async function renderRunReport(
  store: RunStore,
  runId: string,
): Promise<{ report: RunReport; html: string; charts: RenderedChart[] }> {
  const report = loadRunReport(store, runId);
  const charts = await renderCharts(report);
  return { report, html: reportHtml(report, charts), charts };
}
