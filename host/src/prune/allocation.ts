/**
 * How much to prune per layer. The S4oP rule: a target of round(p·H·n) bypassed channels is spread over
 * layers 1…n−1 with weights ∝ 2^i (deeper layers take more), each layer capped at H−1 so one channel stays
 * active; layer 0 is used only once the deeper layers are full. Channels bypassed at an earlier rate stay
 * bypassed, so each layer's count is bounded below by what it already has.
 * A score-following variant spreads the target by a global ranking of per-layer-normalised scores.
 */

/** Bypassed channels for a rate in percent: round(p·H·n), capped at n·(H−1) (one channel stays per layer). */
export function targetBypassed(ratePct: number, H: number, nLayers: number): number {
  if (!Number.isFinite(ratePct) || ratePct < 0 || ratePct > 100)
    throw new Error(`pruning rate must be a percentage in [0, 100], got ${ratePct}`);
  // Integer products before the division so 30 % of 1024 is 307.2 exactly, not 307.19999….
  const t = Math.round((ratePct * H * nLayers) / 100);
  return Math.min(t, nLayers * (H - 1));
}

/**
 * Bounded proportional apportionment: x_i = clamp(λ·w_i, lo_i, hi_i) with Σ x_i = total, then integers by
 * largest remainder (ties to the later index). Integer weights; all comparisons are exact (BigInt).
 */
export function apportion(
  total: number,
  weights: readonly bigint[],
  lo: readonly number[],
  hi: readonly number[],
): number[] {
  const n = weights.length;
  if (lo.length !== n || hi.length !== n)
    throw new Error('apportion: weights, lower and upper bounds differ in length');
  const loSum = lo.reduce((a, b) => a + b, 0);
  const hiSum = hi.reduce((a, b) => a + b, 0);
  if (!Number.isInteger(total) || total < loSum || total > hiSum) {
    throw new Error(`apportion: total ${total} outside [${loSum}, ${hiSum}] (the sum of the per-layer bounds)`);
  }
  for (let i = 0; i < n; i++) {
    if (weights[i]! < 0n) throw new Error(`apportion: weight ${i} is negative`);
    if (!(Number.isInteger(lo[i]) && Number.isInteger(hi[i]) && lo[i]! <= hi[i]!))
      throw new Error(`apportion: bounds of ${i} are not integers lo ≤ hi`);
  }
  const x = new Array<number>(n).fill(0);
  const fixed = new Array<boolean>(n).fill(false);
  // A zero weight takes no share: it stays at its lower bound.
  for (let i = 0; i < n; i++) {
    if (weights[i] === 0n) {
      x[i] = lo[i]!;
      fixed[i] = true;
    }
  }
  // Variable fixing: with λ = R/W over the free set, if the excess above the caps is at least the deficit below
  // the floors, the solution's λ is no smaller, so the layers over their cap stay there (and vice versa).
  let R = 0n;
  let W = 0n;
  for (;;) {
    R = BigInt(total - x.reduce((a, v, i) => a + (fixed[i] ? v : 0), 0));
    W = weights.reduce((a, w, i) => a + (fixed[i] ? 0n : w), 0n);
    if (W === 0n) break;
    const over: number[] = [];
    const under: number[] = [];
    let excess = 0n;
    let deficit = 0n;
    for (let i = 0; i < n; i++) {
      if (fixed[i]) continue;
      const s = R * weights[i]!; // share · W
      const h = BigInt(hi[i]!) * W;
      const l = BigInt(lo[i]!) * W;
      if (s > h) {
        over.push(i);
        excess += s - h;
      } else if (s < l) {
        under.push(i);
        deficit += l - s;
      }
    }
    if (!over.length && !under.length) break;
    for (const i of excess >= deficit ? over : under) {
      x[i] = excess >= deficit ? hi[i]! : lo[i]!;
      fixed[i] = true;
    }
  }
  if (W === 0n) {
    if (R !== 0n) throw new Error('apportion: no free weight left for the remaining total');
    return x;
  }
  const rem: { i: number; r: bigint }[] = [];
  let assigned = 0;
  for (let i = 0; i < n; i++) {
    if (fixed[i]) {
      assigned += x[i]!;
      continue;
    }
    const s = R * weights[i]!;
    x[i] = Number(s / W);
    assigned += x[i]!;
    rem.push({ i, r: s % W });
  }
  rem.sort((a, b) => (a.r === b.r ? b.i - a.i : a.r > b.r ? -1 : 1));
  for (let k = 0; k < total - assigned; k++) x[rem[k]!.i]! += 1;
  return x;
}

/**
 * The S4oP allocation: bypassed channels per layer for a target total. `floor` holds the counts already
 * bypassed (they stay bypassed); if they exceed the target, the target grows to them.
 */
export function s4opAllocation(H: number, nLayers: number, target: number, floor?: readonly number[]): number[] {
  const cap = H - 1;
  const lo = floor ? [...floor] : new Array<number>(nLayers).fill(0);
  if (lo.length !== nLayers) throw new Error(`allocation: ${lo.length} floors for ${nLayers} layers`);
  lo.forEach((f, i) => {
    if (!Number.isInteger(f) || f < 0 || f > cap)
      throw new Error(`allocation: layer ${i} already has ${f} bypassed, outside [0, ${cap}]`);
  });
  if (!Number.isInteger(target) || target < 0)
    throw new Error(`allocation: target must be a non-negative integer, got ${target}`);
  if (target > nLayers * cap)
    throw new Error(
      `allocation: target ${target} exceeds ${nLayers}·(H−1) = ${nLayers * cap}: one channel must stay active in every layer`,
    );
  const T = Math.max(
    target,
    lo.reduce((a, b) => a + b, 0),
  );
  if (nLayers === 1) return [T];
  const deeperLo = lo.slice(1);
  const deeperCap = (nLayers - 1) * cap;
  // Layer 0 takes only what the full deeper layers cannot hold (or what it already has).
  const deeperTotal = Math.min(T - lo[0]!, deeperCap);
  const weights = Array.from({ length: nLayers - 1 }, (_, k) => 1n << BigInt(k + 1));
  const deeper = apportion(deeperTotal, weights, deeperLo, new Array<number>(nLayers - 1).fill(cap));
  return [T - deeperTotal, ...deeper];
}

/**
 * Score-following allocation: the `target` lowest (per-layer-normalised) scores over all layers, counting
 * channels already bypassed, with one channel kept per layer. `scores[i][k]` belongs to `active[i][k]`.
 */
export function scoreAllocation(
  scores: readonly (readonly number[])[],
  active: readonly (readonly number[])[],
  H: number,
  target: number,
): number[] {
  const nLayers = active.length;
  if (scores.length !== nLayers)
    throw new Error(`allocation: scores for ${scores.length} layers, model has ${nLayers}`);
  const counts = active.map((a) => H - a.length);
  const already = counts.reduce((a, b) => a + b, 0);
  if (target > nLayers * (H - 1))
    throw new Error(`allocation: target ${target} exceeds ${nLayers}·(H−1) = ${nLayers * (H - 1)}`);
  const pool: { layer: number; score: number }[] = [];
  active.forEach((a, i) => {
    if (scores[i]!.length !== a.length)
      throw new Error(`allocation: layer ${i} has ${a.length} active channels but ${scores[i]!.length} scores`);
    const sorted = [...scores[i]!].sort((p, q) => p - q);
    // The layer's highest score is never a candidate: one channel stays.
    for (const s of sorted.slice(0, sorted.length - 1)) {
      if (!Number.isFinite(s)) throw new Error(`allocation: layer ${i} has a non-finite score`);
      pool.push({ layer: i, score: s });
    }
  });
  pool.sort((p, q) => p.score - q.score || q.layer - p.layer);
  for (const { layer } of pool.slice(0, Math.max(0, target - already))) counts[layer]! += 1;
  return counts;
}
