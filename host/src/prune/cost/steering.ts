/**
 * Latency-aware steering: a cost model fitted to a run's measurements. Every layer's channel costs the
 * same SSM work in this architecture (same L, same d_state), so the per-layer model cost ≈ a + b·Σ_i w_i·active_i
 * has equal weights w_i = 1 and is fitted by least squares on (active operators, measured cost). The cost is
 * the candidate's paired latency ratio to the run's base (the base itself is the point (all active, 1)): a
 * ratio repeats within a fraction of a percent where an absolute p50 drifts ±20 % between jobs. With a budget
 * in the same unit, it predicts the least pruning rate that meets it, so the search does not prune past what
 * the budget asks for.
 */
import { targetBypassed } from '../allocation.js';

export interface CostPoint {
  /** Active operators per layer. */
  active: number[];
  /** Latency ratio to the base (or any cost in the budget's unit). */
  cost: number;
}

export interface CostModel {
  /** Fixed cost: everything but the SSM operators. */
  a: number;
  /** Cost per active operator, the same in every layer. */
  b: number;
  points: number;
  rmse: number;
}

const work = (active: readonly number[]) => active.reduce((s, n) => s + n, 0);

/** Least-squares fit; null when the points do not span two different operator counts. */
export function fitCostModel(points: readonly CostPoint[]): CostModel | null {
  const xs = points.map((p) => work(p.active));
  const ys = points.map((p) => p.cost);
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  if (sxx === 0) return null;
  const b = sxy / sxx;
  const a = my - b * mx;
  const rmse = Math.sqrt(ys.reduce((s, y, i) => s + (y - a - b * xs[i]!) ** 2, 0) / n);
  return { a, b, points: n, rmse };
}

export function predictCost(m: CostModel, active: readonly number[]): number {
  return m.a + m.b * work(active);
}

/**
 * The least rate in (after, upTo] whose predicted cost meets `budget`, rounded up to a multiple of `grid`
 * percent (capped at upTo), or null if none does (or the model says pruning does not make it faster). The
 * grid keeps the decision where the fit is precise: two runs whose ratios differ by a few tenths of a percent
 * would otherwise steer to neighbouring integer rates (44 % and 45 % measured) and answer differently.
 */
export function steerRate(
  m: CostModel,
  budget: number,
  H: number,
  nLayers: number,
  after: number,
  upTo: number,
  grid = 5,
): number | null {
  if (!(m.b > 0)) return null;
  for (let r = Math.floor(after) + 1; r <= upTo; r++) {
    const active = nLayers * H - targetBypassed(r, H, nLayers);
    if (m.a + m.b * active <= budget) return Math.min(upTo, Math.ceil(r / grid) * grid);
  }
  return null;
}
