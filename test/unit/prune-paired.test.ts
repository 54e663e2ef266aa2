import { describe, expect, it } from 'vitest';
import { fitCostModel, steerRate } from '../../host/src/prune/cost/steering.js';
import {
  budgetRatio,
  chooseFinal,
  combineAttempts,
  dominates,
  paretoFront,
  parseBudget,
  pooledP50,
  slowerThanParent,
  type FrontPoint,
} from '../../host/src/prune/paired.js';

/**
 * The demo run of issue 13 (Taylor importance, max-drop 10, budget 0.362 ms), as the old loop decided on it:
 * absolute p50 from separate jobs. Base val 85.7 %. The old answer was the 50 % candidate, dominated by the 30 %.
 */
const DEMO_ABSOLUTE: (FrontPoint & { rate: number })[] = [
  { id: 1, rate: 0, ratio: 0.717, metric: 0.857 },
  { id: 2, rate: 10, ratio: 0.769, metric: 0.856 },
  { id: 3, rate: 30, ratio: 0.516, metric: 0.854 },
  { id: 4, rate: 50, ratio: 0.686, metric: 0.804 },
  { id: 5, rate: 70, ratio: 0.655, metric: 0.688 },
];

describe('decisions on paired ratios', () => {
  it('the answer is on the front, also on the demo figures that fooled the old rule', () => {
    const front = paretoFront(DEMO_ABSOLUTE).map((p) => p.id);
    expect(front).toEqual([3, 1]); // 30 % (fastest, 85.4) and the base (most accurate)
    expect(front).not.toContain(4); // the old answer, dominated by the 30 % candidate
    const pick = chooseFinal(DEMO_ABSOLUTE, { baseMetric: 0.857, maxDrop: 10, budgetRatio: 0.362 })!;
    expect(pick.id).toBe(3);
    // Whatever the rule's inputs, the pick is never dominated by anything the run measured.
    for (const maxDrop of [undefined, 0, 0.3, 1, 5, 10, 20]) {
      for (const budget of [undefined, 0.3, 0.52, 0.6, 0.7, 0.75, 0.9]) {
        const p = chooseFinal(DEMO_ABSOLUTE, { baseMetric: 0.857, maxDrop, budgetRatio: budget });
        expect(p).not.toBeNull();
        expect(DEMO_ABSOLUTE.some((q) => dominates(q, p!))).toBe(false);
      }
    }
  });

  it('picks the most accurate within the budget, else the fastest within the accuracy limit', () => {
    const pts: FrontPoint[] = [
      { id: 0, ratio: 1, metric: 0.9 },
      { id: 1, ratio: 0.8, metric: 0.89 },
      { id: 2, ratio: 0.6, metric: 0.87 },
      { id: 3, ratio: 0.45, metric: 0.8 },
    ];
    expect(chooseFinal(pts, { baseMetric: 0.9, budgetRatio: 0.7 })!.id).toBe(2);
    expect(chooseFinal(pts, { baseMetric: 0.9, budgetRatio: 0.81 })!.id).toBe(1);
    expect(chooseFinal(pts, { baseMetric: 0.9, maxDrop: 5, budgetRatio: 0.4 })!.id).toBe(2); // budget unmet: fastest within 5 points
    expect(chooseFinal(pts, { baseMetric: 0.9 })!.id).toBe(3);
    expect(chooseFinal(pts, { baseMetric: 0.9, maxDrop: 0 })!.id).toBe(0);
    expect(chooseFinal([], { baseMetric: 0.9 })).toBeNull();
    // Equal ratio: the more accurate; equal metric within the budget: the faster.
    expect(
      chooseFinal(
        [
          { id: 7, ratio: 0.5, metric: 0.8 },
          { id: 8, ratio: 0.5, metric: 0.85 },
        ],
        { baseMetric: 0.9 },
      )!.id,
    ).toBe(8);
    expect(
      chooseFinal(
        [
          { id: 7, ratio: 0.6, metric: 0.85 },
          { id: 8, ratio: 0.5, metric: 0.85 },
        ],
        { baseMetric: 0.9, budgetRatio: 0.7 },
      )!.id,
    ).toBe(8);
  });

  it('converts a millisecond budget through the pooled base p50 and states it', () => {
    expect(pooledP50([0.5, 0.7, 0.6])).toBe(0.6);
    expect(pooledP50([0.5, 0.7, 0.6, 0.4])).toBeCloseTo(0.55, 12);
    expect(() => pooledP50([])).toThrow(/no measurement of the base/);
    // The demo's separate jobs of the base under load: 0.566, 0.689, 0.822 → pooled 0.689.
    const b = budgetRatio({ ms: 0.362 }, [0.566, 0.689, 0.822], 'local');
    expect(b.ratio).toBeCloseTo(0.362 / 0.689, 12);
    expect(b.text).toBe('budget 0.362 ms = 0.525× base (base p50 0.689 ms, median of 3 jobs on local)');
    expect(budgetRatio({ ratio: 0.6 }, [], 'local')).toEqual({ ratio: 0.6, text: 'budget 0.600× base' });
  });

  it('parses relative budgets and names the accepted forms', () => {
    expect(parseBudget('0.6x')).toEqual({ ratio: 0.6 });
    expect(parseBudget('0.6')).toEqual({ ratio: 0.6 });
    expect(parseBudget('60%')).toEqual({ ratio: 0.6 });
    expect(parseBudget(' .75X ')).toEqual({ ratio: 0.75 });
    for (const bad of ['', 'x', '-0.5x', '0x', 'fast', '0.6ms'])
      expect(() => parseBudget(bad)).toThrow(/not a latency ratio to the base: write e\.g\. 0\.6x or 60%/);
    expect(() => parseBudget('1.2x')).toThrow(/asks for no speed-up/);
  });

  it('stop rule and steering work in ratios: the cost model fits (active, ratio) with the base at (all, 1)', () => {
    // Ratios of a d_model 32 × 4 model: base 1, 10 % → 0.93, 30 % → 0.79 (a + b·active exactly, a = 0.3).
    const b = 0.7 / 128;
    const pts = [128, 115, 90].map((active) => ({
      active: [active / 4, active / 4, active / 4, active / 4],
      cost: 0.3 + b * active,
    }));
    const m = fitCostModel(pts)!;
    expect(m.a).toBeCloseTo(0.3, 10);
    expect(m.b).toBeCloseTo(b, 12);
    // Budget 0.6 → active ≤ 0.3/b = 54.9 → bypassed ≥ 74 of 128 → 58 % (round(0.58·128) = 74), on the 5 % grid 60 %.
    expect(steerRate(m, 0.6, 32, 4, 30, 70)).toBe(60);
    expect(steerRate(m, 0.6, 32, 4, 30, 70, 1)).toBe(58);
    expect(steerRate(m, 0.6, 32, 4, 30, 59)).toBe(59); // capped at the scheduled rate
    expect(steerRate(m, 0.2, 32, 4, 30, 90)).toBeNull();
  });

  it('consistency: slower than the parent beyond both intervals', () => {
    const parent = combineAttempts([{ ratio: 0.8, ratio_low: 0.79, ratio_high: 0.81 }]);
    expect(slowerThanParent(combineAttempts([{ ratio: 0.83, ratio_low: 0.82, ratio_high: 0.84 }]), parent)).toBe(true);
    expect(slowerThanParent(combineAttempts([{ ratio: 0.82, ratio_low: 0.805, ratio_high: 0.83 }]), parent)).toBe(
      false,
    );
    expect(slowerThanParent(combineAttempts([{ ratio: 0.7, ratio_low: 0.69, ratio_high: 0.71 }]), parent)).toBe(false);
    // Two attempts: mean of the medians, the widest interval, busy if either was.
    const two = combineAttempts([
      { ratio: 0.8, ratio_low: 0.78, ratio_high: 0.82, busy: false },
      { ratio: 0.7, ratio_low: 0.69, ratio_high: 0.72, busy: true },
    ]);
    expect(two).toEqual({ ratio: 0.75, low: 0.69, high: 0.82, attempts: 2, busy: true });
    expect(() => combineAttempts([])).toThrow(/at least one/);
  });
});
