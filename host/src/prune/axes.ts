/**
 * The search over several axes (`s4op prune --axes operators,states,int8`): what each axis proposes from the
 * current best candidate, and which axis the step moves along.
 *
 *   operators  the next rate of the operator schedule, `seeds` candidates (fine-tuned)
 *   states     the next rate of the state schedule (percent of the active channels' modes), one candidate
 *              chosen by a state criterion (LAST by default) and fine-tuned like the operators
 *   int8       the parent exported with int8 MatMuls outside the SSM (post-training: no fine-tune)
 *
 * Every candidate is measured paired with the base; the step moves along the axis whose best candidate (by
 * validation) buys the most measured latency per validation point lost:
 *
 *   value = (ratio_parent − ratio_candidate) / max(points lost to the parent, MIN_POINTS)
 *
 * A candidate beyond the drop limit (to the base) is not a move and closes its axis. One no faster than its
 * parent is not a move either, but its axis stays open: the next step tries that axis's following point from
 * the same parent (a narrower tensor can run no faster than the one before it — 13 modes against 16 measured
 * so, the GEMM width filling the same vector registers — while the one after is faster). A step with no move
 * and nothing further to try ends the search. The floor MIN_POINTS keeps a candidate that loses nothing from
 * scoring infinitely: below a tenth of a point the validation split cannot tell losses apart.
 */
import { AXES, type Axis, type Precision } from '../store/run-store.js';

export { AXES, type Axis } from '../store/run-store.js';

/** Percent of states pruned at each step of the state axis. */
export const DEFAULT_STATE_RATES: readonly number[] = [20, 40, 60, 80];
/** Validation points below which losses count as this much. */
export const MIN_POINTS = 0.1;
/**
 * Candidate index (the store's seed column) where each axis's candidates start in a step: distinct per axis,
 * so a resumed step finds each of them again.
 */
export const AXIS_SLOT: Readonly<Record<Axis, number>> = { operators: 0, states: 100, int8: 200 };

export interface Proposal {
  axis: Axis;
  /** Candidate index within the step (AXIS_SLOT + seed). */
  j: number;
  /** Percent of operators bypassed after the step. */
  rate: number;
  /** Percent of the active channels' states pruned after the step. */
  stateRate: number;
}

export interface AxesPlan {
  axes: readonly Axis[];
  rates: readonly number[];
  stateRates: readonly number[];
  seeds: number;
}

/** What the parent has reached on each axis. */
export interface AxesPosition {
  rate: number;
  state_rate?: number;
  precision?: Precision;
}

/**
 * The candidates of one step from `parent`: the next point of every axis that has one, past `passed` (per axis,
 * the furthest point already tried from this parent that was no faster: its rate or state rate; any for int8).
 */
export function proposeAxes(
  plan: AxesPlan,
  parent: AxesPosition,
  closed: ReadonlySet<Axis> = new Set(),
  passed: ReadonlyMap<Axis, number> = new Map(),
): Proposal[] {
  const stateRate = parent.state_rate ?? 0;
  const beyond = (axis: Axis, at: number) => Math.max(at, passed.get(axis) ?? -Infinity);
  const out: Proposal[] = [];
  for (const axis of plan.axes) {
    if (closed.has(axis)) continue;
    if (axis === 'operators') {
      const rate = plan.rates.find((r) => r > beyond(axis, parent.rate));
      if (rate === undefined) continue;
      for (let s = 0; s < plan.seeds; s++) out.push({ axis, j: AXIS_SLOT.operators + s, rate, stateRate });
    } else if (axis === 'states') {
      const next = plan.stateRates.find((r) => r > beyond(axis, stateRate));
      if (next !== undefined) out.push({ axis, j: AXIS_SLOT.states, rate: parent.rate, stateRate: next });
    } else if ((parent.precision ?? 'float32') !== 'int8' && !passed.has(axis)) {
      out.push({ axis, j: AXIS_SLOT.int8, rate: parent.rate, stateRate });
    }
  }
  return out;
}

/** Where a candidate of `axis` stands on it, as `passed` records it. */
export function axisPoint(axis: Axis, c: { rate: number; stateRate: number }): number {
  return axis === 'operators' ? c.rate : axis === 'states' ? c.stateRate : 1;
}

export interface AxisCandidate {
  id: number;
  axis: Axis;
  /** Paired latency ratio to the base. */
  ratio: number;
  /** Validation metric (fraction). */
  metric: number;
}

export interface AxisChoice {
  /** The move, or null when no axis buys latency within the limit. */
  chosen: AxisCandidate | null;
  /**
   * Per axis: its best candidate and its value, or why it is not a move; `beyondLimit` when the candidate is
   * past the drop limit (further along that axis loses more, so the search closes it); value null without it:
   * no faster than the parent.
   */
  verdicts: { axis: Axis; id: number; value: number | null; beyondLimit: boolean; reason: string }[];
}

/**
 * The axis to move along: per axis its best candidate by validation (ties: the faster), then the highest
 * value among the moves. `parent` and `base` are (ratio, metric); `maxDrop` in points to the base.
 */
export function chooseAxis(
  parent: { ratio: number; metric: number },
  baseMetric: number,
  candidates: readonly AxisCandidate[],
  maxDrop?: number,
): AxisChoice {
  const best = new Map<Axis, AxisCandidate>();
  for (const c of candidates) {
    const b = best.get(c.axis);
    if (!b || c.metric > b.metric || (c.metric === b.metric && c.ratio < b.ratio)) best.set(c.axis, c);
  }
  const verdicts: AxisChoice['verdicts'] = [];
  let chosen: AxisCandidate | null = null;
  let top = -Infinity;
  for (const [axis, c] of best) {
    const dropToBase = 100 * (baseMetric - c.metric);
    const gain = parent.ratio - c.ratio;
    const lost = 100 * (parent.metric - c.metric);
    if (maxDrop !== undefined && dropToBase > maxDrop + 1e-9) {
      verdicts.push({
        axis,
        id: c.id,
        value: null,
        beyondLimit: true,
        reason: `${dropToBase.toFixed(2)} points below the base (limit ${maxDrop})`,
      });
    } else if (!(gain > 0)) {
      verdicts.push({
        axis,
        id: c.id,
        value: null,
        beyondLimit: false,
        reason: `no faster than its parent (ratio ${c.ratio.toFixed(3)} vs ${parent.ratio.toFixed(3)})`,
      });
    } else {
      const value = gain / Math.max(lost, MIN_POINTS);
      verdicts.push({
        axis,
        id: c.id,
        value,
        beyondLimit: false,
        reason: `ratio −${gain.toFixed(3)} for ${lost.toFixed(2)} points: ${value.toFixed(4)} per point`,
      });
      if (value > top) {
        top = value;
        chosen = c;
      }
    }
  }
  return { chosen, verdicts };
}

/** Parses "operators,states,int8" (any order, no repeats) into the axes in canonical order. */
export function parseAxes(text: string): Axis[] {
  return checkAxes(
    text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/** Checks a list of axis names (at least one, each known, none twice); returns them in canonical order. */
export function checkAxes(names: readonly string[]): Axis[] {
  const known: readonly string[] = AXES;
  for (const n of names) {
    if (!known.includes(n)) throw new Error(`axes: unknown axis "${String(n)}"; known: ${known.join(', ')}`);
  }
  if (new Set(names).size !== names.length) throw new Error(`axes: "${names.join(',')}" names an axis twice`);
  if (!names.length) throw new Error(`axes: give at least one of ${known.join(', ')}`);
  return AXES.filter((a) => names.includes(a));
}
