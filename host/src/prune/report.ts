/**
 * A run's candidates as rows: the final table, the Pareto front of (validation metric, paired latency ratio
 * to the base — the figures the search decided on), CSV.
 */
import type { Axis, CandidateRecord, Precision, RunStore } from '../store/run-store.js';
import { figureOf, frontPoints, paretoFront, type CandidatePaired } from './paired.js';

export interface CandidateRow {
  id: number;
  step: number;
  rate: number;
  seed: number;
  /** What the candidate's step moved along, its export precision, and the percent of states pruned. */
  axis: Axis;
  precision: Precision;
  state_rate: number;
  status: 'running' | 'finished';
  /** Fraction of operators bypassed (measured from the candidate, not the nominal rate). */
  pruned: number;
  operators_active: number | null;
  operators_total: number | null;
  params: number | null;
  val_metric: number | null;
  test_metric: number | null;
  /** Paired latency ratio to the base (1 for the base) and its confidence interval: what decisions use. */
  ratio: number | null;
  ratio_low: number | null;
  ratio_high: number | null;
  /** Paired jobs behind the ratio (2 after a consistency re-measure). */
  paired_jobs: number | null;
  /** Candidate's absolute p50 in its latest job (absolutes drift between jobs; see ratio). */
  p50_ms: number | null;
  p90_ms: number | null;
  rss_mb: number | null;
  /** Warnings on the figures: 'not faster than its parent', 'board busy'. */
  flags: string[];
  /** 'measured' by an agent, or an 'estimate'. */
  cost_kind: 'measured' | 'estimate' | null;
  measured_on: string | null;
  finetune_epochs: number | null;
  chosen: boolean;
  pareto: boolean;
  /** The run's answer. */
  final: boolean;
  model_sha256: string | null;
  checkpoint: string | null;
}

export function candidateRows(store: RunStore, runId: string): CandidateRow[] {
  const candidates = store.candidates(runId);
  const rows = candidates.map((c) => row(store, c));
  const front = new Set(paretoFront(frontPoints(candidates)).map((p) => p.id));
  const final = (store.getRun(runId)?.summary as { final_candidate?: number } | null)?.final_candidate;
  for (const r of rows) {
    r.pareto = front.has(r.id);
    r.final = r.id === final;
  }
  return rows;
}

function row(store: RunStore, c: CandidateRecord): CandidateRow {
  const m = c.measurement_id != null ? store.measurementById(c.measurement_id) : undefined;
  const measuredBy = (c.extra?.measured_by as string | undefined) ?? m?.agent ?? null;
  const f = c.status === 'finished' ? figureOf(c) : null;
  const paired = c.extra?.paired as CandidatePaired | undefined;
  const flags = [
    ...(paired?.not_faster_than_parent ? ['not faster than its parent'] : []),
    ...(f?.busy ? ['board busy'] : []),
  ];
  return {
    id: c.id,
    step: c.step,
    rate: c.rate,
    seed: c.seed,
    axis: c.axis ?? 'operators',
    precision: c.precision ?? 'float32',
    state_rate: c.state_rate ?? 0,
    status: c.status,
    pruned: c.operators_total ? 1 - c.operators_active! / c.operators_total : 0,
    operators_active: c.operators_active ?? null,
    operators_total: c.operators_total ?? null,
    params: c.params ?? null,
    val_metric: c.val_metric ?? null,
    test_metric: c.test_metric ?? null,
    ratio: f?.ratio ?? null,
    ratio_low: f?.low ?? null,
    ratio_high: f?.high ?? null,
    paired_jobs: f ? f.attempts : null,
    p50_ms: m?.p50_ms ?? null,
    p90_ms: m?.p90_ms ?? null,
    rss_mb: m?.rss_mb ?? null,
    flags,
    cost_kind: m?.kind ?? null,
    measured_on: measuredBy,
    finetune_epochs: c.finetune_epochs ?? null,
    chosen: c.chosen,
    pareto: false,
    final: false,
    model_sha256: c.model_sha256 ?? null,
    checkpoint: c.checkpoint ?? null,
  };
}

const pct = (v: number | null) => (v == null ? '-' : `${(100 * v).toFixed(2)}`);
const ms = (v: number | null, kind: CandidateRow['cost_kind']) =>
  v == null ? '-' : `${v < 10 ? v.toFixed(3) : v.toFixed(1)}${kind === 'estimate' ? '*' : ''}`;

const ratioCell = (r: CandidateRow) =>
  r.ratio == null
    ? '-'
    : r.paired_jobs === 0
      ? '1 (base)'
      : `${r.ratio.toFixed(3)} [${r.ratio_low!.toFixed(3)}–${r.ratio_high!.toFixed(3)}]${r.cost_kind === 'estimate' ? '*' : ''}`;

/** The human table: one line per candidate; `*` marks estimated (not measured) latency; `!` a flagged figure. */
export function formatTable(rows: readonly CandidateRow[]): string {
  const head = [
    'step',
    'axis',
    'rate%',
    'seed',
    'pruned%',
    'states%',
    'prec',
    'val%',
    'test%',
    'ratio to base [95% CI]',
    'p50 ms',
    'p90 ms',
    'mem MB',
    'params',
    'epochs',
    'chosen',
  ];
  const body = rows.map((r) => [
    String(r.step),
    r.step === 0 ? '-' : r.axis,
    String(r.rate),
    String(r.seed),
    (100 * r.pruned).toFixed(1),
    r.state_rate ? String(r.state_rate) : '0',
    r.precision,
    pct(r.val_metric),
    pct(r.test_metric),
    `${ratioCell(r)}${r.flags.length ? ' !' : ''}`,
    ms(r.p50_ms, r.cost_kind),
    ms(r.p90_ms, r.cost_kind),
    r.rss_mb == null ? '-' : r.rss_mb.toFixed(1),
    r.params == null ? '-' : String(r.params),
    r.finetune_epochs == null ? '-' : String(r.finetune_epochs),
    [r.final ? 'answer' : '', r.chosen ? 'yes' : r.status === 'running' ? 'running' : '', r.pareto ? 'pareto' : '']
      .filter(Boolean)
      .join(', '),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const lines = [line(head), ...body.map(line)];
  if (rows.some((r) => r.cost_kind === 'estimate')) lines.push('* estimated from an operation count, not measured');
  for (const r of rows) if (r.flags.length) lines.push(`! step ${r.step} seed ${r.seed}: ${r.flags.join('; ')}`);
  lines.push(
    "ratio: latency / the base's, timed interleaved in one job on the same agent (what the search decides on); p50: that job's absolute",
  );
  return lines.join('\n');
}

const CSV_COLUMNS: (keyof CandidateRow)[] = [
  'id',
  'step',
  'rate',
  'seed',
  'axis',
  'precision',
  'state_rate',
  'status',
  'pruned',
  'operators_active',
  'operators_total',
  'params',
  'val_metric',
  'test_metric',
  'ratio',
  'ratio_low',
  'ratio_high',
  'paired_jobs',
  'p50_ms',
  'p90_ms',
  'rss_mb',
  'cost_kind',
  'measured_on',
  'flags',
  'finetune_epochs',
  'chosen',
  'pareto',
  'final',
  'model_sha256',
  'checkpoint',
];

export function toCsv(rows: readonly CandidateRow[]): string {
  const cell = (v: unknown) => {
    const s = v == null ? '' : Array.isArray(v) ? v.join('; ') : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((k) => cell(r[k])).join(','))].join('\n') + '\n';
}

/** The chosen candidate of every step in order, from the base: the path a run took through its axes. */
export function axisPath<R extends CandidateRow>(rows: readonly R[]): R[] {
  return rows.filter((r) => r.chosen && r.status === 'finished').sort((a, b) => a.step - b.step);
}

/** "base → states 20 % → int8 → operators 30 %", with each step's paired ratio and validation metric. */
export function axisPathText(rows: readonly CandidateRow[]): string {
  return axisPath(rows)
    .map((r) => {
      const what =
        r.step === 0
          ? 'base'
          : r.axis === 'operators'
            ? `operators ${r.rate} %`
            : r.axis === 'states'
              ? `states ${r.state_rate} %`
              : 'int8';
      const ratio = r.ratio == null ? '' : ` ×${r.ratio.toFixed(3)}`;
      return `${what} (${ratio.trim() || '–'}, val ${pct(r.val_metric)})`;
    })
    .join(' → ');
}
