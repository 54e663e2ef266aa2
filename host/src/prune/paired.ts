/**
 * Decisions on paired measurements. Absolute latencies drift between jobs (DVFS, thermals, neighbours:
 * ±20 % on a shared machine, CV ≈ 18 % measured), while a candidate timed interleaved with the run's base in
 * one job gives a ratio that repeats to a fraction of a percent. So every decision of the search — the
 * budget, the stop rule, the steering cost model, the Pareto front and the final choice — rests on
 * r = latency(candidate) / latency(base), each with the confidence interval of its median over the job's
 * interleaved pairs. Absolute figures are kept and reported, never decided on.
 *
 * A millisecond budget is converted once per decision through the base's pooled p50 on that agent: the
 * median of the base's own p50 over every job it took part in (its single job and its side of every pair).
 */
import { median } from '@s4op/shared';
import type { CandidateRecord } from '../store/run-store.js';

/** A candidate's latency relative to the base, from one or more paired jobs. */
export interface RatioFigure {
  /** Median over interleaved pairs of latency(candidate) / latency(base); the mean of those medians over attempts. */
  ratio: number;
  /** Confidence interval of the median (over attempts: the widest: lowest low, highest high). */
  low: number;
  high: number;
  /** Paired jobs behind the figure. */
  attempts: number;
  /** Any of those jobs ran while the agent saw the board busy with other work. */
  busy: boolean;
}

/** The base against itself. */
export const BASE_FIGURE: RatioFigure = { ratio: 1, low: 1, high: 1, attempts: 0, busy: false };

export interface PairedAttempt {
  ratio: number;
  ratio_low: number;
  ratio_high: number;
  busy?: boolean | null;
}

/** One figure from the attempts of a pair (a consistency re-measure adds an attempt). */
export function combineAttempts(attempts: readonly PairedAttempt[]): RatioFigure {
  if (!attempts.length) throw new Error('a paired figure needs at least one paired measurement');
  return {
    ratio: attempts.reduce((s, a) => s + a.ratio, 0) / attempts.length,
    low: Math.min(...attempts.map((a) => a.ratio_low)),
    high: Math.max(...attempts.map((a) => a.ratio_high)),
    attempts: attempts.length,
    busy: attempts.some((a) => a.busy === true),
  };
}

/**
 * Slower than its parent beyond the intervals: a candidate whose active operators are a subset of its
 * parent's cannot be slower, so such a figure is measured again and, if it persists, flagged.
 */
export function slowerThanParent(candidate: RatioFigure, parent: RatioFigure): boolean {
  return candidate.low > parent.high;
}

/** Median of the base's p50 over its jobs. */
export function pooledP50(p50s: readonly number[]): number {
  if (!p50s.length) throw new Error('no measurement of the base to convert a millisecond budget with');
  return median(p50s);
}

/** A latency budget: absolute (converted through the base's pooled p50) or relative to the base. */
export type Budget = { ms: number } | { ratio: number };

/**
 * Parses `--budget`: a ratio to the base written `0.6x` (or `0.6`), or a percentage `60%`. Throws with the
 * accepted forms on anything else.
 */
export function parseBudget(text: string): { ratio: number } {
  const m = /^\s*(\d*\.?\d+)\s*(x|%)?\s*$/i.exec(text);
  const v = m ? Number(m[1]) / (m[2] === '%' ? 100 : 1) : NaN;
  if (!(v > 0) || !Number.isFinite(v))
    throw new Error(`budget "${text}" is not a latency ratio to the base: write e.g. 0.6x or 60%`);
  if (v >= 1)
    throw new Error(`budget "${text}" asks for no speed-up (ratio ${v} ≥ 1): write a ratio below 1, e.g. 0.6x`);
  return { ratio: v };
}

/** The budget as a ratio to the base, with the sentence that states the conversion. */
export function budgetRatio(
  budget: Budget,
  baseP50s: readonly number[],
  agent: string,
): { ratio: number; text: string } {
  if ('ratio' in budget) return { ratio: budget.ratio, text: `budget ${budget.ratio.toFixed(3)}× base` };
  const p50 = pooledP50(baseP50s);
  const ratio = budget.ms / p50;
  return {
    ratio,
    text: `budget ${budget.ms} ms = ${ratio.toFixed(3)}× base (base p50 ${p50.toFixed(3)} ms, median of ${baseP50s.length} job${baseP50s.length === 1 ? '' : 's'} on ${agent})`,
  };
}

/** A measured candidate as the front and the final choice see it. */
export interface FrontPoint {
  id: number;
  /** Paired latency ratio to the base (1 for the base). */
  ratio: number;
  /** Validation metric (higher is better). */
  metric: number;
}

/** True when `a` dominates `b`: no slower, no less accurate, and better in one of the two. */
export function dominates(a: FrontPoint, b: FrontPoint): boolean {
  return a.ratio <= b.ratio && a.metric >= b.metric && (a.ratio < b.ratio || a.metric > b.metric);
}

/** The Pareto front (lower ratio, higher metric) of what the run measured, by ratio ascending. */
export function paretoFront(points: readonly FrontPoint[]): FrontPoint[] {
  return points
    .filter((p) => !points.some((q) => q !== p && dominates(q, p)))
    .sort((a, b) => a.ratio - b.ratio || b.metric - a.metric);
}

export interface FinalRule {
  /** The base's validation metric (0..1). */
  baseMetric: number;
  /** Points below the base a candidate may lose (as --max-drop); none: any. */
  maxDrop?: number;
  /** Budget as a ratio to the base. */
  budgetRatio?: number;
}

/**
 * The run's answer, always on the front of what it measured. Eligible: within the accuracy limit. If any
 * eligible candidate meets the budget: the most accurate of those (ties: the faster). Otherwise the fastest
 * eligible candidate (ties: the more accurate). A candidate dominating the pick would be eligible and win the
 * same rule, so the pick is never dominated. Null when nothing is eligible (the base always is, if present).
 */
export function chooseFinal(points: readonly FrontPoint[], rule: FinalRule): FrontPoint | null {
  const eligible = points.filter(
    (p) => rule.maxDrop === undefined || 100 * (rule.baseMetric - p.metric) <= rule.maxDrop + 1e-9,
  );
  if (!eligible.length) return null;
  const inBudget = rule.budgetRatio === undefined ? [] : eligible.filter((p) => p.ratio <= rule.budgetRatio!);
  if (inBudget.length)
    return inBudget.reduce((a, b) => (b.metric > a.metric || (b.metric === a.metric && b.ratio < a.ratio) ? b : a));
  return eligible.reduce((a, b) => (b.ratio < a.ratio || (b.ratio === a.ratio && b.metric > a.metric) ? b : a));
}

/** What a candidate's paired measurement recorded (candidate.extra.paired). */
export interface CandidatePaired extends RatioFigure {
  reference_sha256: string;
  /** Measurement ids of the paired jobs behind the figure. */
  measurements: number[];
  /** The consistency check: slower than its parent beyond the intervals, twice. */
  not_faster_than_parent: boolean;
}

/** A finished candidate's paired figure: the base's is 1; null when it was not measured. */
export function figureOf(c: CandidateRecord): RatioFigure | null {
  if (c.step === 0) return c.measurement_id != null ? BASE_FIGURE : null;
  const p = (c.extra as { paired?: CandidatePaired } | undefined)?.paired;
  return p ?? null;
}

/** The run's measured candidates as points of the front. */
export function frontPoints(candidates: readonly CandidateRecord[]): FrontPoint[] {
  const out: FrontPoint[] = [];
  for (const c of candidates) {
    const f = c.status === 'finished' && c.val_metric != null ? figureOf(c) : null;
    if (f) out.push({ id: c.id, ratio: f.ratio, metric: c.val_metric! });
  }
  return out;
}
