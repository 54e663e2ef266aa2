/**
 * What `s4op fleet status` and `s4op deployments` show, built from the run store alone so the same JSON
 * comes from a running server's API or from the workspace file.
 */
import type { DeploymentAgentRecord, DeploymentRecord, DeploymentStore } from './store.js';
import type { FleetAgentRecord, StoreAgentRegistry } from '../link/registry-store.js';

export interface FleetAgentView {
  id: string;
  name: string;
  tags: string[];
  online: boolean;
  last_seen: string;
  agent_version: string;
  device: { cpu_model: string; cores: number; arch: string; memory_total_mb: number; board_model: string | null };
  runtimes: string[];
  active_sha256: string | null;
  active_deployment: string | null;
  previous_sha256: string | null;
  desired_sha256: string | null;
  /** in_sync: serves what the host wants · converging: will be brought there on reconnect · drift: serves something else · none: nothing deployed. */
  health: 'in_sync' | 'converging' | 'drift' | 'none';
}

export function fleetView(registry: StoreAgentRegistry, online?: Set<string>): FleetAgentView[] {
  return registry.list().map((a: FleetAgentRecord) => {
    const isOnline = online ? online.has(a.id) : a.online;
    const health: FleetAgentView['health'] = !a.desired_sha256
      ? a.active_sha256
        ? 'drift'
        : 'none'
      : a.active_sha256 === a.desired_sha256
        ? 'in_sync'
        : isOnline
          ? 'drift'
          : 'converging';
    return {
      id: a.id,
      name: a.name,
      tags: a.tags,
      online: isOnline,
      last_seen: a.last_seen,
      agent_version: a.agent_version,
      device: {
        cpu_model: a.device.cpu_model,
        cores: a.device.cores,
        arch: a.device.arch,
        memory_total_mb: a.device.memory_total_mb,
        board_model: a.device.board_model,
      },
      runtimes: a.runtimes.filter((r) => r.available).map((r) => `${r.name} ${r.version ?? ''}`.trim()),
      active_sha256: a.active_sha256,
      active_deployment: a.active_deployment,
      previous_sha256: a.previous_sha256,
      desired_sha256: a.desired_sha256,
      health,
    };
  });
}

export interface DeploymentView extends DeploymentRecord {
  agents: DeploymentAgentRecord[];
  counts: Record<string, number>;
}

export function deploymentView(store: DeploymentStore, d: DeploymentRecord): DeploymentView {
  const agents = store.agents(d.id);
  const counts: Record<string, number> = {};
  for (const a of agents) counts[a.state] = (counts[a.state] ?? 0) + 1;
  return { ...d, agents, counts };
}

const sh = (s: string | null) => (s ? `${s.slice(0, 12)}…` : '-');

function table(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body]
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One table cell of bounded width (a peer chose these strings). */
const cell = (s: string, max = 40) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
const tagsCell = (tags: string[]) =>
  cell(tags.slice(0, 3).join(',') + (tags.length > 3 ? ` +${tags.length - 3}` : ''), 48);

/** Up to `limit` agents from `offset`, with the totals (the fleet may be thousands of boards). */
export function pageFleet(
  agents: FleetAgentView[],
  offset = 0,
  limit = agents.length,
): { agents: FleetAgentView[]; total: number; online: number; offset: number } {
  let online = 0;
  for (const a of agents) if (a.online) online++;
  return { agents: agents.slice(offset, offset + limit), total: agents.length, online, offset };
}

export function fleetText(agents: FleetAgentView[], page?: { total: number; online: number; offset: number }): string {
  if (!agents.length)
    return page?.total ? `no agents at offset ${page.offset} (${page.total} known)` : 'no agents known yet';
  const body = table(
    ['agent', 'tags', 'online', 'last seen', 'active model', 'deployment', 'previous', 'health', 'device'],
    agents.map((a) => [
      cell(a.name),
      tagsCell(a.tags),
      a.online ? 'yes' : 'no',
      a.last_seen.slice(0, 19).replace('T', ' '),
      sh(a.active_sha256),
      cell(a.active_deployment ?? '-'),
      sh(a.previous_sha256),
      a.health,
      cell(`${a.device.board_model ?? a.device.cpu_model} (${a.device.arch})`),
    ]),
  );
  if (!page || (page.offset === 0 && agents.length === page.total)) return body;
  return `${body}\nagents ${page.offset + 1}–${page.offset + agents.length} of ${page.total} (${page.online} online): --offset/--limit for others`;
}

export function deploymentsText(list: DeploymentView[]): string {
  if (!list.length) return 'no deployments yet';
  return table(
    ['deployment', 'created', 'status', 'model', 'target', 'stages', 'agents', 'reason'],
    list.map((d) => [
      d.id,
      d.created_at.slice(0, 19).replace('T', ' '),
      d.status,
      `${d.model_name ?? ''} ${sh(d.model_sha256)}`.trim(),
      d.selector,
      d.plan.map((s) => `${s.name}:${s.agents.length}`).join(' '),
      Object.entries(d.counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(', '),
      d.reason ?? '',
    ]),
  );
}

export function deploymentText(d: DeploymentView): string {
  const lab = d.lab
    ? `lab: ${d.lab.agent}, ${d.lab.runtime ?? '?'} ${d.lab.runtime_version ?? ''}, ${d.lab.threads ?? '?'} thread(s), export ${d.lab.export_mode ?? '?'}/${d.lab.export_variant ?? '?'}; p50 ${d.lab.p50_ms?.toFixed(4) ?? '-'} ms, p90 ${d.lab.p90_ms?.toFixed(4) ?? '-'} ms, rss ${d.lab.rss_mb?.toFixed(1) ?? '-'} MB`
    : 'lab: no lab measurement of this hash';
  const head = [
    `deployment ${d.id}: ${d.status}${d.reason ? ` (${d.reason})` : ''}`,
    `model ${d.model_name ?? ''} ${d.model_sha256} (${d.model_bytes} bytes) from ${d.source.kind === 'candidate' ? `candidate ${d.source.candidate_id} of run ${d.source.run_id}` : (d.source.path ?? 'a file')}`,
    lab,
    `target ${d.selector}; canary ${d.canary}, ${d.waves} wave(s); gate ${d.gate || '(none)'}`,
  ];
  const rows = d.agents.map((a) => {
    const f = a.field as { p50_ms?: number; p99_ms?: number; rss_mb?: number } | null;
    return [
      d.plan[a.stage]?.name ?? String(a.stage),
      a.agent_name,
      a.state,
      f?.p50_ms != null ? f.p50_ms.toFixed(4) : '-',
      f?.p99_ms != null ? f.p99_ms.toFixed(4) : '-',
      f?.rss_mb != null ? f.rss_mb.toFixed(1) : '-',
      a.reason ?? '',
    ];
  });
  return `${head.join('\n')}\n${table(['stage', 'agent', 'state', 'p50 ms', 'p99 ms', 'rss MB', 'reason'], rows)}`;
}
