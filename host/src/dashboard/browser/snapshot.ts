/**
 * The dashboard's snapshot as JSON: what the server sends (dashboard/state.ts builds it) and what the page's
 * script reads (page-script.ts), one set of types for both sides. Types only, so it compiles for node and for
 * the browser alike.
 */
import type { DeviceFacts, RuntimeInfo } from '@s4op/shared';

export interface DashboardAgent {
  id: string;
  name: string;
  online: boolean;
  tags: string[];
  device: DeviceFacts;
  runtimes: RuntimeInfo[];
  agent_version: string;
  last_seen: string;
}

export interface RecentMeasurement {
  job_id: string;
  agent: string;
  at: string;
  sha256: string | null;
  median_ms: number | null;
  p90_ms: number | null;
  /** S4oP exports: declared work ÷ median, and its fraction of the agent's measured MatMul peak. */
  achieved_gflops: number | null;
  peak_fraction: number | null;
  /** Other processes' share of the CPU during the job, and whether the agent called that busy. */
  other_cpu_fraction: number | null;
  busy: boolean | null;
  error: string | null;
}

export interface DashboardRun {
  id: string;
  status: string;
  strategy: string;
  stop_reason: string | null;
  candidates: number;
  finished: number;
  chosen: string | null;
  charts: { id: string; title: string; caption: string; svg: string }[];
  candidates_html: string;
}

export interface DashboardState {
  at: string;
  /** Online agents first, at most DASHBOARD_AGENTS of them (a fleet of thousands does not fit one page or one event). */
  agents: DashboardAgent[];
  agents_total: number;
  agents_online: number;
  jobs: { job_id: string; agent: string; state: string }[];
  measurements: RecentMeasurement[];
  run: DashboardRun | null;
  runs: { id: string; status: string; created_at: string }[];
  deployments: {
    id: string;
    status: string;
    model: string;
    selector: string;
    stage: string;
    reason: string | null;
    updated_at: string;
  }[];
}
