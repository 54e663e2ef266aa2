/**
 * What the live dashboard shows, as one JSON snapshot: connected agents with their device facts, jobs in
 * flight and recent measurements, the latest pruning run (its charts rendered to SVG, re-rendered only
 * when the run store changed) and deployments.
 */
import { DeploymentStore } from '../fleet/deploy/store.js';
import type { JobManager } from '../fleet/link/jobs.js';
import type { FleetServer } from '../fleet/link/server.js';
import { candidatesTable, loadRunReport, renderCharts } from '../report/index.js';
import type { RunStore } from '../store/run-store.js';
import type { DashboardAgent, DashboardRun, DashboardState, RecentMeasurement } from './browser/snapshot.js';

export type { DashboardAgent, DashboardRun, DashboardState, RecentMeasurement };

/** Rows of the agents and jobs tables in one snapshot; the totals say how many there are. */
export const DASHBOARD_AGENTS = 200;
export const DASHBOARD_JOBS = 200;

const RECENT = 20;

export class DashboardSource {
  private readonly recent: RecentMeasurement[] = [];
  private runCache: { key: string; run: DashboardRun } | null = null;

  constructor(
    private readonly server: FleetServer,
    private readonly jobs: JobManager,
    private readonly store: RunStore | null,
  ) {
    server.on('message', (agent, m) => {
      if (m.type !== 'result') return;
      const first = m.measurement?.models[0];
      this.recent.unshift({
        job_id: m.job_id,
        agent: agent.name,
        at: new Date().toISOString(),
        sha256: first?.sha256 ?? null,
        median_ms: first?.latency_ms.median ?? null,
        p90_ms: first?.latency_ms.p90 ?? null,
        achieved_gflops: first?.achieved_gflops ?? null,
        peak_fraction: first?.peak_fraction ?? null,
        other_cpu_fraction: m.measurement?.background_load?.other_cpu_fraction ?? null,
        busy: m.measurement?.background_load?.busy ?? null,
        error: m.error ? `${m.error.code}: ${m.error.message}` : null,
      });
      this.recent.length = Math.min(this.recent.length, RECENT);
    });
  }

  /** Cheap change detector over the run store (other processes, e.g. `s4op prune --server`, write to it). */
  storeKey(): string {
    if (!this.store) return '';
    const r = this.store.db
      .prepare(
        `SELECT (SELECT max(updated_at) FROM runs) AS runs, (SELECT count(*) FROM candidates) AS c,
                (SELECT count(*) FROM candidates WHERE status = 'finished') AS f, (SELECT count(*) FROM measurements) AS m`,
      )
      .get() as Record<string, unknown>;
    let deployments = '';
    try {
      deployments = String(
        (this.store.db.prepare('SELECT max(updated_at) AS d FROM deployments').get() as { d: unknown }).d,
      );
    } catch {
      // No deployments table in this store.
    }
    return `${String(r.runs)}|${String(r.c)}|${String(r.f)}|${String(r.m)}|${deployments}`;
  }

  async snapshot(): Promise<DashboardState> {
    const online = new Set(this.server.agents().map((a) => a.id));
    const agents = this.server.registry
      .list()
      .map((r) => ({
        id: r.id,
        name: r.name,
        online: online.has(r.id),
        tags: r.tags,
        device: r.device,
        runtimes: r.runtimes,
        agent_version: r.agent_version,
        last_seen: r.last_seen,
      }))
      .sort((a, b) => Number(b.online) - Number(a.online) || a.name.localeCompare(b.name));
    const runs = this.store?.listRuns() ?? [];
    const current = runs.filter((r) => r.status === 'running').at(-1) ?? runs.at(-1);
    return {
      at: new Date().toISOString(),
      agents: agents.slice(0, DASHBOARD_AGENTS),
      agents_total: agents.length,
      agents_online: online.size,
      jobs: this.jobs.list().slice(0, DASHBOARD_JOBS),
      measurements: [...this.recent],
      run: current ? await this.runView(current.id) : null,
      runs: runs
        .slice(-10)
        .reverse()
        .map((r) => ({ id: r.id, status: r.status, created_at: r.created_at })),
      deployments: this.deployments(),
    };
  }

  private async runView(id: string): Promise<DashboardRun> {
    const key = `${id}|${this.storeKey()}`;
    if (this.runCache?.key === key) return this.runCache.run;
    const report = loadRunReport(this.store!, id);
    const run: DashboardRun = {
      id,
      status: report.run.status,
      strategy: report.strategy,
      stop_reason: report.run.stop_reason,
      candidates: report.candidates.length,
      finished: report.candidates.filter((c) => c.status === 'finished').length,
      chosen: report.chosen?.label ?? null,
      charts: await renderCharts(report),
      candidates_html: candidatesTable(report.candidates, report.chosen?.id ?? null),
    };
    this.runCache = { key, run };
    return run;
  }

  private deployments(): DashboardState['deployments'] {
    if (!this.store) return [];
    try {
      return new DeploymentStore(this.store)
        .list()
        .slice(0, 10)
        .map((d) => ({
          id: d.id,
          status: d.status,
          model: d.model_name ?? d.model_sha256.slice(0, 12),
          selector: d.selector,
          stage: `${Math.min(d.current_stage + 1, d.plan.length)}/${d.plan.length}`,
          reason: d.reason,
          updated_at: d.updated_at,
        }));
    } catch {
      return [];
    }
  }
}
