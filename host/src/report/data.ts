/**
 * Everything a run's report shows, read from the run store: the candidates (with their measured latency
 * summaries), the Pareto front, per-layer active operators, and the measuring agents' device facts and
 * thermals. Plain numbers only, so the charts and the tests read the same data.
 */
import type { DeviceFacts, RuntimeInfo } from '@s4op/shared';
import type { RunTuningNote } from '../export/tuned.js';
import { storedModelFigures } from '../prune/cost/cost.js';
import { candidateRows, type CandidateRow } from '../prune/report.js';
import type { CandidatePaired } from '../prune/paired.js';
import type { CandidateRecord, MeasurementRecord, RunRecord, RunStore } from '../store/run-store.js';

/** Latency summary of one candidate's timed runs as the agent reported it (the agent sends no raw samples). */
export interface LatencySummary {
  n: number;
  min: number;
  median: number;
  mean: number;
  p90: number;
  p99: number;
  max: number;
  ci_low: number | null;
  ci_high: number | null;
}

export interface ThermalPoint {
  candidate: string;
  agent: string;
  at: string;
  phase: 'before' | 'after';
  temperature_c: number | null;
  cpu_mhz: number | null;
  throttled: boolean;
}

export interface ReportCandidate extends CandidateRow {
  /** "step 2 · 60% · seed 1": how charts and tables name it. */
  label: string;
  /** Active operators per layer (count), from the candidate's record. */
  active_per_layer: number[] | null;
  latency: LatencySummary | null;
  /** Absolute p50 of every job this model was timed in on its agent (the base: its own job and its side of every pair). */
  p50_jobs: number[];
  /** From the agent's measurement when it reported them (optional fields of newer agents), else null. */
  achieved_gflops: number | null;
  peak_fraction: number | null;
  /** Other processes' share of the CPU during the measuring job, and whether the agent called that busy. */
  other_cpu_fraction: number | null;
  busy: boolean | null;
  /** Profiled kernel ms per export section (SSM, mixing, norms, rest), when the job profiled. */
  time_by_section: Record<string, number> | null;
  /** The run's profiling job of this candidate (the base and the answer always): time split into parts. */
  profile: CandidateProfile | null;
}

/** Where a candidate's time goes: its profiled kernel time's shares applied to that job's p50. */
export interface CandidateProfile {
  /** 'section' for our exports (ssm, mixing, norm, other), 'op type' otherwise. */
  by: 'section' | 'op type';
  /** ms per part, adding up to p50_ms. */
  ms: Record<string, number>;
  p50_ms: number;
}

/** A stored profiling measurement as parts of its p50 (null when the agent could not profile). */
function profileOf(m: MeasurementRecord | undefined): CandidateProfile | null {
  const p = storedModelFigures(m?.raw)?.profile;
  if (!m || !p) return null;
  const by = p.by_section ? 'section' : 'op type';
  let parts = Object.entries(p.by_section ?? p.by_op_type ?? {});
  if (by === 'op type' && parts.length > 6) {
    // The five largest node types and the rest.
    parts.sort((a, b) => b[1] - a[1]);
    parts = [...parts.slice(0, 5), ['other', parts.slice(5).reduce((a, [, v]) => a + v, 0)]];
  }
  const total = parts.reduce((a, [, v]) => a + v, 0);
  if (!(total > 0)) return null;
  return { by, ms: Object.fromEntries(parts.map(([k, v]) => [k, (v / total) * m.p50_ms])), p50_ms: m.p50_ms };
}

/** The optional figures of a stored agent measurement (raw.measurement: the protocol's Measurement). */
function agentFigures(
  raw: unknown,
): Pick<ReportCandidate, 'achieved_gflops' | 'peak_fraction' | 'other_cpu_fraction' | 'busy' | 'time_by_section'> {
  const m = (
    raw as { measurement?: { background_load?: { other_cpu_fraction?: number; busy?: boolean } | null } } | null
  )?.measurement;
  // Device-class measurements keep one measurement per class: those have no single figure to show.
  const first = storedModelFigures(raw);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    achieved_gflops: num(first?.achieved_gflops),
    peak_fraction: num(first?.peak_fraction),
    other_cpu_fraction: num(m?.background_load?.other_cpu_fraction),
    busy: typeof m?.background_load?.busy === 'boolean' ? m.background_load.busy : null,
    time_by_section: first?.profile?.by_section ?? null,
  };
}

export interface ReportAgent {
  name: string;
  device: DeviceFacts | null;
  runtimes: RuntimeInfo[];
  tags: string[];
  /** Measurements of this run it made. */
  measurements: number;
}

/** A finished candidate of another run from the same base checkpoint: the other strategies' curves. */
export interface ComparisonPoint {
  run_id: string;
  strategy: string;
  label: string;
  pruned: number;
  val_metric: number;
  p50_ms: number | null;
  /** The candidate that run kept at its step (or its base). */
  picked: boolean;
}

/** How the run's candidates were exported for measurement: mode, variant, and the device class's tuning followed. */
export interface ReportExport {
  mode: string;
  variant: string;
  tuned: RunTuningNote | null;
}

export interface RunReport {
  run: RunRecord;
  /** Null for a run that only estimated its costs. */
  exportSettings: ReportExport | null;
  /** Other runs of the workspace that pruned the same base checkpoint. */
  comparison: ComparisonPoint[];
  candidates: ReportCandidate[];
  base: ReportCandidate | null;
  chosen: ReportCandidate | null;
  /** Strategy label of this run's candidates (one run, one strategy). */
  strategy: string;
  metric: string;
  agents: ReportAgent[];
  thermals: ThermalPoint[];
  generated_at: string;
}

interface AgentRow {
  name: string;
  tags: string;
  device: string;
  runtimes: string;
}

function latencyOf(stats: unknown): LatencySummary | null {
  const s = stats as (Partial<Record<string, unknown>> & { median_ci?: { low?: number; high?: number } }) | null;
  if (!s || typeof s.median !== 'number') return null;
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
  return {
    n: num(s.n, 0),
    min: num(s.min, s.median),
    median: s.median,
    mean: num(s.mean, s.median),
    p90: num(s.p90, s.median),
    p99: num(s.p99, num(s.p90, s.median)),
    max: num(s.max, num(s.p99, s.median)),
    ci_low: s.median_ci?.low ?? null,
    ci_high: s.median_ci?.high ?? null,
  };
}

/** Absolute p50 of each job the candidate's model was timed in (what the spread between jobs is made of). */
function jobP50s(store: RunStore, c: CandidateRecord, m: MeasurementRecord): number[] {
  if (m.kind !== 'measured') return [m.p50_ms];
  if (c.step === 0 && c.model_sha256) {
    const all = store.referenceP50s(c.model_sha256, m.agent, m.settings);
    return all.length ? all : [m.p50_ms];
  }
  const ids = (c.extra?.paired as CandidatePaired | undefined)?.measurements ?? [m.id];
  return ids.map((id) => store.measurementById(id)?.p50_ms).filter((v): v is number => v != null);
}

export function candidateLabel(c: Pick<CandidateRow, 'step' | 'rate' | 'seed' | 'axis' | 'state_rate'>): string {
  if (c.step === 0) return 'base';
  if (c.axis === 'states') return `step ${c.step} · states ${c.state_rate}%`;
  if (c.axis === 'int8') return `step ${c.step} · int8`;
  return `step ${c.step} · ${c.rate}% · seed ${c.seed}`;
}

/** Agents known to the workspace (registered by `s4op serve`), by name; empty when the table is absent. */
function knownAgents(store: RunStore): Map<string, AgentRow> {
  const out = new Map<string, AgentRow>();
  try {
    const rows = store.db
      .prepare('SELECT name, tags, device, runtimes FROM agents ORDER BY last_seen')
      .all() as AgentRow[];
    for (const r of rows) out.set(r.name, r);
  } catch {
    // A store from before the fleet migration has no agents table: facts are then unknown.
  }
  return out;
}

/** "s4op" or "importance (taylor)": what the charts call a run's strategy. */
export function strategyLabel(run: RunRecord): string {
  const cfg = run.config as { search?: { criteria?: { criterion: string; weight: number }[] } } | null;
  const criteria = cfg?.search?.criteria
    ?.map((c) => (c.weight === 1 ? c.criterion : `${c.weight}*${c.criterion}`))
    .join('+');
  return run.strategy === 'importance' && criteria ? `importance (${criteria})` : run.strategy;
}

export function loadRunReport(store: RunStore, runId: string): RunReport {
  const run = store.getRun(runId);
  if (!run) throw new Error(`no run ${runId} in ${store.file}`);
  const rows = candidateRows(store, runId);
  const records = new Map(store.candidates(runId).map((c) => [c.id, c]));
  const thermals: ThermalPoint[] = [];
  const perAgent = new Map<string, number>();
  const profileIds = (run.summary as { profiles?: Record<string, number> } | null)?.profiles ?? {};
  const profiled = (
    id: number,
  ): Pick<ReportCandidate, 'profile'> & Partial<Pick<ReportCandidate, 'time_by_section'>> => {
    const pm = profileIds[String(id)] != null ? store.measurementById(profileIds[String(id)]!) : undefined;
    const bySection = storedModelFigures(pm?.raw)?.profile?.by_section;
    return { profile: profileOf(pm), ...(bySection ? { time_by_section: bySection } : {}) };
  };
  const candidates: ReportCandidate[] = rows.map((r) => {
    const rec = records.get(r.id)!;
    const m = rec.measurement_id != null ? store.measurementById(rec.measurement_id) : undefined;
    const label = candidateLabel(r);
    if (m && m.kind === 'measured') {
      perAgent.set(r.measured_on ?? m.agent, (perAgent.get(r.measured_on ?? m.agent) ?? 0) + 1);
      const t = m.thermal as {
        before?: Record<string, unknown>;
        after?: Record<string, unknown>;
        throttled?: boolean;
      } | null;
      for (const phase of ['before', 'after'] as const) {
        const p = t?.[phase];
        if (!p) continue;
        thermals.push({
          candidate: label,
          agent: r.measured_on ?? m.agent,
          at: m.created_at,
          phase,
          temperature_c: typeof p.temperature_c === 'number' ? p.temperature_c : null,
          cpu_mhz: typeof p.cpu_mhz === 'number' ? p.cpu_mhz : null,
          throttled: Boolean(m.throttled ?? t?.throttled),
        });
      }
    }
    return {
      ...r,
      label,
      active_per_layer: rec.active_operators ? rec.active_operators.map((layer) => layer.length) : null,
      latency: m ? latencyOf(m.statistics) : null,
      p50_jobs: m ? jobP50s(store, rec, m) : [],
      ...agentFigures(m?.raw),
      ...profiled(rec.id),
    };
  });
  const known = knownAgents(store);
  const agents: ReportAgent[] = [...perAgent].map(([name, n]) => {
    const a = known.get(name);
    return {
      name,
      device: a ? (JSON.parse(a.device) as DeviceFacts) : null,
      runtimes: a ? (JSON.parse(a.runtimes) as RuntimeInfo[]) : [],
      tags: a ? (JSON.parse(a.tags) as string[]) : [],
      measurements: n,
    };
  });
  const comparison: ComparisonPoint[] = [];
  for (const other of store.listRuns()) {
    if (other.id === run.id || other.base_checkpoint !== run.base_checkpoint) continue;
    for (const c of candidateRows(store, other.id)) {
      if (c.status !== 'finished' || c.val_metric == null) continue;
      comparison.push({
        run_id: other.id,
        strategy: strategyLabel(other),
        label: candidateLabel(c),
        pruned: c.pruned,
        val_metric: c.val_metric,
        p50_ms: c.p50_ms,
        picked: c.chosen || c.step === 0,
      });
    }
  }
  const summary = run.summary as { final_candidate?: number } | null;
  const chosen =
    candidates.find((c) => c.id === summary?.final_candidate) ??
    [...candidates].reverse().find((c) => c.chosen) ??
    null;
  const dataset = run.dataset as { spec?: { source?: string } } | null;
  const measure = (
    run.config as { measure?: { estimate?: boolean; mode?: string; variant?: string; tuned?: RunTuningNote } } | null
  )?.measure;
  const exportSettings =
    measure && !measure.estimate
      ? { mode: measure.mode ?? 'conv', variant: measure.variant ?? 'auto', tuned: measure.tuned ?? null }
      : null;
  return {
    run,
    exportSettings,
    candidates,
    base: candidates.find((c) => c.step === 0) ?? null,
    chosen,
    strategy: strategyLabel(run),
    comparison,
    metric: `validation accuracy${dataset?.spec?.source ? ` (${dataset.spec.source})` : ''}`,
    agents,
    thermals,
    generated_at: new Date().toISOString(),
  };
}
