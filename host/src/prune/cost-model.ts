/**
 * Latency-aware steering: a cost model fitted to a run's measurements. Every layer's channel costs the
 * same SSM work in this architecture (same L, same d_state), so the per-layer model p50 ≈ a + b·Σ_i w_i·active_i
 * has equal weights w_i = 1 and is fitted by least squares on (active operators, measured p50). With a
 * latency budget, it predicts the least pruning rate that meets the budget, so the search does not prune past
 * what the budget asks for.
 */
import { targetBypassed } from './allocation.js';

export interface CostPoint {
  /** Active operators per layer. */
  active: number[];
  p50_ms: number;
}

export interface CostModel {
  /** Fixed cost (ms): everything but the SSM operators. */
  a: number;
  /** Cost per active operator (ms), the same in every layer. */
  b: number;
  points: number;
  rmse_ms: number;
}

const work = (active: readonly number[]) => active.reduce((s, n) => s + n, 0);

/** Least-squares fit; null when the points do not span two different operator counts. */
export function fitCostModel(points: readonly CostPoint[]): CostModel | null {
  const xs = points.map((p) => work(p.active));
  const ys = points.map((p) => p.p50_ms);
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
  return { a, b, points: n, rmse_ms: rmse };
}

export function predictP50(m: CostModel, active: readonly number[]): number {
  return m.a + m.b * work(active);
}

/**
 * The smallest integer rate in (after, upTo] whose predicted p50 meets `budgetMs`, or null if none does (or
 * the model says pruning does not make it faster).
 */
export function steerRate(m: CostModel, budgetMs: number, H: number, nLayers: number, after: number, upTo: number): number | null {
  if (!(m.b > 0)) return null;
  for (let r = Math.floor(after) + 1; r <= upTo; r++) {
    const active = nLayers * H - targetBypassed(r, H, nLayers);
    if (m.a + m.b * active <= budgetMs) return r;
  }
  return null;
}
