/**
 * The rollout gate: comma-separated terms `metric op value unit`, e.g. "p99<=12ms, rss<=200MB, p50<=1.5x".
 * Metrics: p50 (or median), p90, p99, mean latency in ms or us; rss (peak resident memory of the field
 * measurement) in MB; the unit `x` compares with the lab measurement of the same model hash (1.5x: at most
 * half again the lab figure). Errors name the bad term.
 */
import type { Measurement } from '@s4op/shared';

export const GATE_METRICS = ['p50', 'p90', 'p99', 'mean', 'rss'] as const;
export type GateMetric = (typeof GATE_METRICS)[number];
type Op = '<=' | '>=' | '<' | '>';

export interface GateTerm {
  text: string;
  metric: GateMetric;
  op: Op;
  /** Limit in ms (latency) or MB (rss); for relative terms, the factor. */
  limit: number;
  relative: boolean;
}

/** Figures the gate reads: latency in ms, memory in MB (null where a lab record lacks one). */
export type Figures = Record<GateMetric, number | null>;

export interface GateCheck {
  term: string;
  actual: number | null;
  /** The absolute limit this agent was held to (ms or MB). */
  limit: number | null;
  pass: boolean;
  why?: string;
}

export interface GateOutcome {
  pass: boolean;
  checks: GateCheck[];
  /** field / lab per metric, where both exist. */
  vs_lab: Partial<Record<GateMetric, number>>;
}

export class GateError extends Error {
  override name = 'GateError';
}

const TERM = /^(p50|median|p90|p99|mean|rss)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(ms|us|µs|mb|x)$/i;

export function parseGate(text: string | undefined | null): GateTerm[] {
  if (text === undefined || text === null || text.trim() === '') return [];
  return text.split(',').map((raw) => {
    const term = raw.trim();
    if (!term) throw new GateError(`gate "${text}": an empty term (two commas in a row, or a trailing comma)`);
    const m = TERM.exec(term);
    if (!m) {
      throw new GateError(
        `gate term "${term}" does not parse: expected metric op value unit, e.g. p99<=12ms, p50<=800us, rss<=200MB, p90<=1.5x (metrics ${GATE_METRICS.join(', ')}; ops <=, <, >=, >)`,
      );
    }
    const metric = (m[1]!.toLowerCase() === 'median' ? 'p50' : m[1]!.toLowerCase()) as GateMetric;
    const op = m[2] as Op;
    const value = Number(m[3]);
    const unit = m[4]!.toLowerCase();
    if (!Number.isFinite(value)) throw new GateError(`gate term "${term}": ${m[3]} is not a finite number`);
    if (unit === 'x') return { text: term, metric, op, limit: value, relative: true };
    if (metric === 'rss' && unit !== 'mb')
      throw new GateError(`gate term "${term}": rss is in MB (or x for a factor of the lab figure), not ${m[4]}`);
    if (metric !== 'rss' && unit === 'mb')
      throw new GateError(`gate term "${term}": ${metric} is a latency, in ms or us (or x), not MB`);
    const limit = unit === 'us' || unit === 'µs' ? value / 1000 : value;
    return { text: term, metric, op, limit, relative: false };
  });
}

/** Relative terms need a lab figure of the same metric: say so before any agent is touched. */
export function checkGateAgainstLab(terms: GateTerm[], lab: Figures | null): void {
  for (const t of terms) {
    if (!t.relative) continue;
    if (!lab)
      throw new GateError(
        `gate term "${t.text}" compares with the lab measurement, but there is none for this model: give an absolute limit or deploy a measured candidate`,
      );
    if (lab[t.metric] == null)
      throw new GateError(`gate term "${t.text}": the lab measurement of this model has no ${t.metric} figure`);
  }
}

export function fieldFigures(m: Measurement): Figures {
  const l = m.models[0]!.latency_ms;
  return { p50: l.median, p90: l.p90, p99: l.p99, mean: l.mean, rss: m.memory_mb?.peak_rss ?? null };
}

function holds(op: Op, actual: number, limit: number): boolean {
  return op === '<=' ? actual <= limit : op === '<' ? actual < limit : op === '>=' ? actual >= limit : actual > limit;
}

export function evaluateGate(terms: GateTerm[], field: Figures, lab: Figures | null): GateOutcome {
  const checks: GateCheck[] = terms.map((t) => {
    const actual = field[t.metric];
    const base = t.relative ? (lab?.[t.metric] ?? null) : 1;
    const limit = base == null ? null : t.limit * base;
    if (actual == null || limit == null)
      return {
        term: t.text,
        actual,
        limit,
        pass: false,
        why: `no ${actual == null ? 'field' : 'lab'} ${t.metric} figure`,
      };
    const pass = holds(t.op, actual, limit);
    const unit = t.metric === 'rss' ? 'MB' : 'ms';
    return {
      term: t.text,
      actual,
      limit,
      pass,
      ...(pass
        ? {}
        : {
            why: `${t.metric} ${actual.toFixed(4)} ${unit} fails ${t.op} ${limit.toFixed(4)} ${unit}${t.relative ? ` (${t.limit}× lab)` : ''}`,
          }),
    };
  });
  const vs_lab: GateOutcome['vs_lab'] = {};
  for (const k of GATE_METRICS) {
    const f = field[k];
    const l = lab?.[k];
    if (f != null && l != null && l > 0) vs_lab[k] = f / l;
  }
  return { pass: checks.every((c) => c.pass), checks, vs_lab };
}

export function gateText(terms: GateTerm[]): string {
  return terms.map((t) => t.text).join(', ') || '(none: install, load and field measurement must succeed)';
}
