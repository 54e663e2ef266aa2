/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard page's script, run by the browser (built with the DOM library by this folder's tsconfig and
 * served by the dashboard route as /dashboard/page-script.js). It reads the token from the URL fragment
 * (#token=…, never sent in a URL) or the session, follows the server-sent events of /v1/dashboard/events and
 * renders each snapshot into the page's tables; charts arrive as SVG rendered by the host.
 */

import type { DashboardAgent, DashboardState, RecentMeasurement } from './snapshot.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (v: unknown): string => String(v == null ? '' : v).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
const num = (v: number | null | undefined, d: number): string => (v == null ? '–' : Number(v).toFixed(d));
let token = new URLSearchParams(location.hash.slice(1)).get('token') || sessionStorage.getItem('s4op-token') || '';

function table(id: string, head: string[], rows: string[], empty: string): string {
  if (!rows.length) return '<p id="' + id + '" class="empty">' + esc(empty) + '</p>';
  return (
    '<table id="' +
    id +
    '"><tr>' +
    head.map((h) => '<th class="l">' + esc(h) + '</th>').join('') +
    '</tr>' +
    rows.join('') +
    '</table>'
  );
}

function agentRow(a: DashboardAgent): string {
  const d = a.device;
  const rts = a.runtimes
    .filter((r) => r.available)
    .map((r) => r.name + ' ' + (r.version || ''))
    .join(', ');
  return (
    '<tr data-agent="' +
    esc(a.name) +
    '" data-online="' +
    a.online +
    '"><td class="l">' +
    esc(a.name) +
    '</td><td class="l">' +
    (a.online ? '● online' : '○ offline') +
    '</td>' +
    '<td class="l">' +
    esc(d.board_model || d.cpu_model) +
    '</td><td>' +
    d.cores +
    '</td><td>' +
    esc(d.cpu_max_mhz == null ? '–' : d.cpu_max_mhz) +
    '</td><td>' +
    Math.round(d.memory_total_mb) +
    '</td>' +
    '<td class="l">' +
    esc(d.os + ' ' + d.arch) +
    '</td><td>' +
    esc(d.temperature_c == null ? '–' : d.temperature_c) +
    '</td><td class="l">' +
    esc(rts) +
    '</td><td class="l">' +
    esc(a.tags.join(', ')) +
    '</td></tr>'
  );
}

function measurementRow(m: RecentMeasurement): string {
  return (
    '<tr data-job="' +
    esc(m.job_id) +
    '"><td class="l">' +
    esc(new Date(m.at).toLocaleTimeString()) +
    '</td><td class="l">' +
    esc(m.job_id) +
    '</td><td class="l">' +
    esc(m.agent) +
    '</td><td class="l">' +
    esc((m.sha256 || '').slice(0, 12)) +
    '</td><td>' +
    (m.error ? esc(m.error) : num(m.median_ms, 3)) +
    '</td><td>' +
    num(m.p90_ms, 3) +
    '</td>' +
    '<td>' +
    num(m.achieved_gflops, 1) +
    '</td><td>' +
    (m.peak_fraction == null ? '–' : num(m.peak_fraction * 100, 1)) +
    '</td><td' +
    (m.busy ? ' class="busy" title="busy: other processes disturbed this job"' : '') +
    '>' +
    (m.other_cpu_fraction == null ? '–' : num(m.other_cpu_fraction * 100, 0) + ' %' + (m.busy ? ' busy' : '')) +
    '</td></tr>'
  );
}

function render(s: DashboardState): void {
  $('updated').textContent = 'updated ' + new Date(s.at).toLocaleTimeString();
  $('agents').innerHTML =
    table(
      'agent-table',
      ['agent', 'state', 'board / CPU', 'cores', 'max MHz', 'memory MB', 'OS', '°C', 'runtimes', 'tags'],
      s.agents.map(agentRow),
      'No agent has connected yet.',
    ) +
    (s.agents_total > s.agents.length
      ? '<p class="note">' +
        s.agents.length +
        ' of ' +
        s.agents_total +
        ' agents shown (' +
        s.agents_online +
        ' online); s4op fleet status --offset/--limit lists them all.</p>'
      : '');
  $('jobs').innerHTML =
    table(
      'job-table',
      ['job', 'agent', 'state'],
      s.jobs.map(
        (j) =>
          '<tr data-job="' +
          esc(j.job_id) +
          '"><td class="l">' +
          esc(j.job_id) +
          '</td><td class="l">' +
          esc(j.agent) +
          '</td><td class="l">' +
          esc(j.state) +
          '</td></tr>',
      ),
      'No job in flight.',
    ) +
    table(
      'measurement-table',
      ['finished', 'job', 'agent', 'model', 'median ms', 'p90 ms', 'GFLOP/s', '% of peak', 'other CPU'],
      s.measurements.map(measurementRow),
      'No measurement since this server started.',
    );
  const r = s.run;
  if (!r) {
    $('run-title').textContent = 'No pruning run in this workspace yet';
    $('run-meta').textContent = '';
    $('charts').innerHTML = '';
    $('candidates').innerHTML = '';
  } else {
    $('run-title').textContent = 'Run ' + r.id;
    $('run-meta').textContent =
      r.status +
      (r.stop_reason ? ' (' + r.stop_reason + ')' : '') +
      ' · ' +
      r.strategy +
      ' · ' +
      r.finished +
      ' of ' +
      r.candidates +
      ' candidates finished' +
      (r.chosen ? ' · chosen so far: ' + r.chosen : '');
    $('run').dataset.run = r.id;
    $('run').dataset.finished = String(r.finished);
    $('charts').innerHTML = r.charts
      .map(
        (c) =>
          '<figure id="chart-' +
          c.id +
          '" data-chart="' +
          c.id +
          '"><h2>' +
          esc(c.title) +
          '</h2><figcaption>' +
          esc(c.caption) +
          '</figcaption>' +
          c.svg +
          '</figure>',
      )
      .join('');
    $('candidates').innerHTML = r.candidates_html;
  }
  $('deployments').innerHTML = table(
    'deployment-table',
    ['deployment', 'status', 'model', 'agents', 'stage', 'why', 'updated'],
    s.deployments.map(
      (d) =>
        '<tr data-deployment="' +
        esc(d.id) +
        '"><td class="l">' +
        esc(d.id) +
        '</td><td class="l">' +
        esc(d.status) +
        '</td><td class="l">' +
        esc(d.model) +
        '</td><td class="l">' +
        esc(d.selector) +
        '</td><td>' +
        esc(d.stage) +
        '</td><td class="l">' +
        esc(d.reason || '') +
        '</td><td class="l">' +
        esc(d.updated_at) +
        '</td></tr>',
    ),
    'No deployment yet.',
  );
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

/** The browser agent's URL (with the token: this page has it already) and its QR code, rendered by the host. */
async function agentLink(): Promise<void> {
  try {
    const res = await fetch('/v1/agent-link', { headers: { Authorization: 'Bearer ' + token } });
    if (!res.ok) return;
    const link = (await res.json()) as { url: string; qr_svg: string };
    const a = $<HTMLAnchorElement>('agent-url');
    a.href = link.url;
    a.textContent = link.url.replace(/#.*/, '#token=…');
    // The SVG comes from our own server (uqr), not from a peer: safe to place as markup.
    $('agent-qr').innerHTML = link.qr_svg;
  } catch {
    // the section stays empty; the stream reports connection problems
  }
}

async function stream(): Promise<void> {
  if (!token) {
    $('status').textContent = 'enter the server token';
    $('login').hidden = false;
    return;
  }
  $('login').hidden = true;
  try {
    const res = await fetch('/v1/dashboard/events', { headers: { Authorization: 'Bearer ' + token } });
    if (res.status === 401) {
      sessionStorage.removeItem('s4op-token');
      token = '';
      $('status').textContent = 'wrong token';
      $('login').hidden = false;
      return;
    }
    sessionStorage.setItem('s4op-token', token);
    $('status').textContent = 'live';
    void agentLink();
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const event = (/^event: (.*)$/m.exec(block) || [])[1];
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        if (event === 'state') render(JSON.parse(data) as DashboardState);
        else if (event === 'failure')
          $('status').textContent = 'server error: ' + (JSON.parse(data) as { message: string }).message;
      }
    }
  } catch (err) {
    $('status').textContent = 'disconnected (' + (err as Error).message + ')';
  }
  $('status').textContent = 'reconnecting…';
  setTimeout(() => void stream(), 1000);
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $<HTMLInputElement>('token').value;
  void stream();
});
void stream();

export {};
