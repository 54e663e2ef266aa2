import { describe, expect, it } from 'vitest';
import { coefficientOfVariation, medianCiSorted, quantile, summarize } from '@s4op/shared';

/** Exact binomial tail P(Bin(n, ½) ≤ k) with BigInt binomial coefficients: independent of the float code. */
function exactHalfCdf(n: number, k: number): number {
  let c = 1n;
  let sum = 0n;
  for (let i = 0; i <= k; i++) {
    sum += c;
    c = (c * BigInt(n - i)) / BigInt(i + 1);
  }
  return Number((sum * 10n ** 15n) / 2n ** BigInt(n)) / 1e15;
}

/** Reference median CI: the widest-j search written the plain way. */
function referenceCi(sorted: number[], conf: number): { low: number; high: number; coverage: number } {
  const n = sorted.length;
  let j = 1;
  while (j + 1 <= Math.floor((n + 1) / 2) && 1 - 2 * exactHalfCdf(n, j) >= conf) j++;
  return { low: sorted[j - 1]!, high: sorted[n - j]!, coverage: 1 - 2 * exactHalfCdf(n, j - 1) };
}

describe('summary statistics', () => {
  it('matches a float64 reference on a known sample', () => {
    const xs = [5, 1, 4, 2, 3, 10, 7, 6, 9, 8];
    const s = summarize(xs);
    expect(s.n).toBe(10);
    expect(s.min).toBe(1);
    expect(s.max).toBe(10);
    expect(s.median).toBe(5.5);
    expect(s.mean).toBe(5.5);
    // type-7 quantiles: h = 9q, so p90 = x[8.1] = 9.1, p99 = x[8.91] = 9.91
    expect(s.p90).toBeCloseTo(9.1, 12);
    expect(s.p99).toBeCloseTo(9.91, 12);
    expect(s.std).toBeCloseTo(Math.sqrt(82.5 / 9), 12);
    expect(s.cv).toBeCloseTo(Math.sqrt(82.5 / 9) / 5.5, 12);
    // n = 10 at 95 %: [x(2), x(9)] with coverage 1 − 2·11/1024
    expect(s.median_ci).toEqual({ low: 2, high: 9, confidence: 1 - 22 / 1024 });
  });

  it('gives the median CI of exact binomial order statistics for many n', () => {
    for (const n of [1, 2, 5, 6, 9, 17, 64, 100, 333, 1000]) {
      const xs = Array.from({ length: n }, (_, i) => i * 1.5 + 2);
      for (const conf of [0.9, 0.95, 0.99]) {
        const ci = medianCiSorted(xs, conf);
        const ref = referenceCi(xs, conf);
        expect([ci.low, ci.high], `n=${n} conf=${conf}`).toEqual([ref.low, ref.high]);
        expect(ci.confidence).toBeCloseTo(ref.coverage, 9);
        if (n >= 9) expect(ci.confidence).toBeGreaterThanOrEqual(conf);
      }
    }
  });

  it('covers the true median at about the stated rate (simulation)', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let covered = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      // exponential samples, true median ln 2
      const xs = Array.from({ length: 64 }, () => -Math.log(1 - rand())).sort((a, b) => a - b);
      const ci = medianCiSorted(xs, 0.95);
      if (ci.low <= Math.LN2 && Math.LN2 <= ci.high) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.93);
    expect(covered / trials).toBeLessThan(0.99);
  });

  it('quantile interpolates and handles the ends', () => {
    expect(quantile([3], 0.5)).toBe(3);
    expect(quantile([1, 2], 0.25)).toBe(1.25);
    expect(quantile([4, 1, 3, 2], 0)).toBe(1);
    expect(quantile([4, 1, 3, 2], 1)).toBe(4);
  });

  it('coefficient of variation of repeated figures', () => {
    expect(coefficientOfVariation([2, 2, 2])).toBe(0);
    expect(coefficientOfVariation([1, 3])).toBeCloseTo(Math.SQRT2 / 2, 12);
  });

  it('rejects empty and non-finite samples by name', () => {
    expect(() => summarize([])).toThrow(/no samples/);
    expect(() => summarize([1, NaN])).toThrow(/NaN is not a finite number/);
    expect(() => quantile([1], 2)).toThrow(/q must be in \[0, 1\]/);
    expect(() => medianCiSorted([1], 1)).toThrow(/confidence must be in \(0, 1\)/);
  });
});
