/** A run's candidates as rows: the final table, the Pareto front of (validation metric, latency), CSV. */
import type { CandidateRecord, RunStore } from '../store/run-store.js';

export interface CandidateRow {
  id: number;
  step: number;
  rate: number;
  seed: number;
  status: 'running' | 'finished';
  /** Fraction of operators bypassed (measured from the candidate, not the nominal rate). */
  pruned: number;
  operators_active: number | null;
  operators_total: number | null;
  params: number | null;
  val_metric: number | null;
  test_metric: number | null;
  p50_ms: number | null;
  p90_ms: number | null;
  rss_mb: number | null;
  /** 'measured' by an agent, or an 'estimate'. */
  cost_kind: 'measured' | 'estimate' | null;
  measured_on: string | null;
  finetune_epochs: number | null;
  chosen: boolean;
  pareto: boolean;
  model_sha256: string | null;
  checkpoint: string | null;
}

export function candidateRows(store: RunStore, runId: string): CandidateRow[] {
  const rows = store.candidates(runId).map((c) => row(store, c));
  const front = paretoFront(rows);
  for (const r of rows) r.pareto = front.has(r.id);
  return rows;
}

function row(store: RunStore, c: CandidateRecord): CandidateRow {
  const m = c.measurement_id != null ? store.measurementById(c.measurement_id) : undefined;
  const measuredBy = (c.extra?.measured_by as string | undefined) ?? m?.agent ?? null;
  return {
    id: c.id,
    step: c.step,
    rate: c.rate,
    seed: c.seed,
    status: c.status,
    pruned: c.operators_total ? 1 - c.operators_active! / c.operators_total : 0,
    operators_active: c.operators_active ?? null,
    operators_total: c.operators_total ?? null,
    params: c.params ?? null,
    val_metric: c.val_metric ?? null,
    test_metric: c.test_metric ?? null,
    p50_ms: m?.p50_ms ?? null,
    p90_ms: m?.p90_ms ?? null,
    rss_mb: m?.rss_mb ?? null,
    cost_kind: m?.kind ?? null,
    measured_on: measuredBy,
    finetune_epochs: c.finetune_epochs ?? null,
    chosen: c.chosen,
    pareto: false,
    model_sha256: c.model_sha256 ?? null,
    checkpoint: c.checkpoint ?? null,
  };
}

/** Ids of finished candidates not dominated in (higher validation metric, lower p50 latency). */
export function paretoFront(rows: readonly Pick<CandidateRow, 'id' | 'val_metric' | 'p50_ms'>[]): Set<number> {
  const pts = rows.filter((r) => r.val_metric != null && r.p50_ms != null) as { id: number; val_metric: number; p50_ms: number }[];
  const front = new Set<number>();
  for (const a of pts) {
    const dominated = pts.some(
      (b) => b !== a && b.val_metric >= a.val_metric && b.p50_ms <= a.p50_ms && (b.val_metric > a.val_metric || b.p50_ms < a.p50_ms),
    );
    if (!dominated) front.add(a.id);
  }
  return front;
}

const pct = (v: number | null) => (v == null ? '-' : `${(100 * v).toFixed(2)}`);
const ms = (v: number | null, kind: CandidateRow['cost_kind']) => (v == null ? '-' : `${v < 10 ? v.toFixed(3) : v.toFixed(1)}${kind === 'estimate' ? '*' : ''}`);

/** The human table: one line per candidate; `*` marks estimated (not measured) latency. */
export function formatTable(rows: readonly CandidateRow[]): string {
  const head = ['step', 'rate%', 'seed', 'pruned%', 'val%', 'test%', 'p50 ms', 'p90 ms', 'mem MB', 'params', 'epochs', 'chosen'];
  const body = rows.map((r) => [
    String(r.step),
    String(r.rate),
    String(r.seed),
    (100 * r.pruned).toFixed(1),
    pct(r.val_metric),
    pct(r.test_metric),
    ms(r.p50_ms, r.cost_kind),
    ms(r.p90_ms, r.cost_kind),
    r.rss_mb == null ? '-' : r.rss_mb.toFixed(1),
    r.params == null ? '-' : String(r.params),
    r.finetune_epochs == null ? '-' : String(r.finetune_epochs),
    `${r.chosen ? 'yes' : r.status === 'running' ? 'running' : ''}${r.pareto ? (r.chosen ? ', pareto' : 'pareto') : ''}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]!))).join('  ').trimEnd();
  const lines = [line(head), ...body.map(line)];
  if (rows.some((r) => r.cost_kind === 'estimate')) lines.push('* estimated from an operation count, not measured');
  return lines.join('\n');
}

const CSV_COLUMNS: (keyof CandidateRow)[] = [
  'id', 'step', 'rate', 'seed', 'status', 'pruned', 'operators_active', 'operators_total', 'params', 'val_metric', 'test_metric',
  'p50_ms', 'p90_ms', 'rss_mb', 'cost_kind', 'measured_on', 'finetune_epochs', 'chosen', 'pareto', 'model_sha256', 'checkpoint',
];

export function toCsv(rows: readonly CandidateRow[]): string {
  const cell = (v: unknown) => {
    const s = v == null ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((k) => cell(r[k])).join(','))].join('\n') + '\n';
}
