/**
 * Summary statistics of timing samples, shared by the agent (which measures) and the host (which
 * compares). Quantiles interpolate linearly between order statistics (Hyndman & Fan type 7, as in
 * numpy's default); the median's confidence interval comes from order statistics and the binomial
 * distribution, so it needs no assumption about the shape of the latency distribution.
 */

export interface MedianCi {
  low: number;
  high: number;
  /** Coverage actually reached: below the requested one when there are too few samples. */
  confidence: number;
}

export interface Summary {
  n: number;
  min: number;
  max: number;
  median: number;
  mean: number;
  p90: number;
  p99: number;
  /** Sample standard deviation (n − 1 in the denominator). */
  std: number;
  /** Coefficient of variation: std / mean. */
  cv: number;
  median_ci: MedianCi;
}

function checkSamples(values: readonly number[], what: string): void {
  if (values.length === 0) throw new Error(`${what}: no samples`);
  for (const v of values) if (!Number.isFinite(v)) throw new Error(`${what}: sample ${v} is not a finite number`);
}

/** Quantile q ∈ [0, 1] of already sorted values. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile: q must be in [0, 1], got ${q}`);
  if (sorted.length === 0) throw new Error('quantile: no samples');
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function quantile(values: readonly number[], q: number): number {
  checkSamples(values, 'quantile');
  return quantileSorted(
    [...values].sort((a, b) => a - b),
    q,
  );
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function mean(values: readonly number[]): number {
  checkSamples(values, 'mean');
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Sample standard deviation; 0 for a single sample. */
export function std(values: readonly number[]): number {
  checkSamples(values, 'std');
  if (values.length < 2) return 0;
  const m = mean(values);
  let s = 0;
  for (const v of values) s += (v - m) ** 2;
  return Math.sqrt(s / (values.length - 1));
}

/** std / mean: the spread relative to the size, used to judge how repeatable a figure is. */
export function coefficientOfVariation(values: readonly number[]): number {
  const m = mean(values);
  return m === 0 ? 0 : std(values) / Math.abs(m);
}

/** log of the binomial pmf P(X = k), X ~ Bin(n, 1/2), summed in log space to stay finite for large n. */
function logHalfBinomialPmf(n: number, k: number, logFact: Float64Array): number {
  return logFact[n]! - logFact[k]! - logFact[n - k]! - n * Math.LN2;
}

/**
 * Distribution-free confidence interval for the median: [x_(j), x_(n−j+1)] (1-based order statistics)
 * with the largest j whose coverage 1 − 2·P(Bin(n, ½) ≤ j − 1) still reaches `confidence`.
 */
export function medianCiSorted(sorted: readonly number[], confidence = 0.95): MedianCi {
  if (!(confidence > 0 && confidence < 1))
    throw new Error(`median CI: confidence must be in (0, 1), got ${confidence}`);
  const n = sorted.length;
  if (n === 0) throw new Error('median CI: no samples');
  const logFact = new Float64Array(n + 1);
  for (let i = 2; i <= n; i++) logFact[i] = logFact[i - 1]! + Math.log(i);
  // cdf[j-1] = P(X ≤ j − 1); coverage of [x_(j), x_(n−j+1)] is 1 − 2·cdf[j−1].
  let best = { j: 1, coverage: 1 - 2 * Math.exp(logHalfBinomialPmf(n, 0, logFact)) };
  let cdf = 0;
  for (let j = 1; j <= Math.floor((n + 1) / 2); j++) {
    cdf += Math.exp(logHalfBinomialPmf(n, j - 1, logFact));
    const coverage = 1 - 2 * cdf;
    if (coverage >= confidence) best = { j, coverage };
    else break;
  }
  const j = best.j;
  return { low: sorted[j - 1]!, high: sorted[n - j]!, confidence: Math.max(0, best.coverage) };
}

export function summarize(values: readonly number[], confidence = 0.95): Summary {
  checkSamples(values, 'summarize');
  const sorted = [...values].sort((a, b) => a - b);
  const m = mean(sorted);
  const s = std(sorted);
  return {
    n: sorted.length,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    median: quantileSorted(sorted, 0.5),
    mean: m,
    p90: quantileSorted(sorted, 0.9),
    p99: quantileSorted(sorted, 0.99),
    std: s,
    cv: m === 0 ? 0 : s / Math.abs(m),
    median_ci: medianCiSorted(sorted, confidence),
  };
}
