import { describe, expect, it } from 'vitest';
import { fitCostModel, predictCost, steerRate } from '../../host/src/prune/cost/steering.js';

describe('cost model', () => {
  it('least squares over (active operators, cost), by hand', () => {
    // x = 10, 20, 30 active; y = 2.1, 2.9, 4.1 → mean x 20, mean y 3.0333; Sxy = (−10)(−0.9333) + 0 + 10(1.0667) = 20;
    // Sxx = 200 → b = 0.1, a = 3.0333 − 2 = 1.0333.
    const m = fitCostModel([
      { active: [5, 5], cost: 2.1 },
      { active: [10, 10], cost: 2.9 },
      { active: [15, 15], cost: 4.1 },
    ])!;
    expect(m.b).toBeCloseTo(0.1, 12);
    expect(m.a).toBeCloseTo(1.0333333333, 9);
    expect(predictCost(m, [20, 20])).toBeCloseTo(5.0333333333, 9);
    expect(m.points).toBe(3);
    expect(fitCostModel([{ active: [5], cost: 1 }])).toBeNull();
    expect(
      fitCostModel([
        { active: [5], cost: 1 },
        { active: [2, 3], cost: 2 },
      ]),
    ).toBeNull();
  });

  it('steers to the smallest rate predicted to meet the budget', () => {
    // p50 = 1 + 0.1·active, 8 layers × 10: the budget 5 needs active ≤ 40 → bypassed ≥ 40 → r ≥ 50 %.
    const m = { a: 1, b: 0.1, points: 2, rmse: 0 };
    expect(steerRate(m, 5, 10, 8, 30, 70)).toBe(50);
    expect(steerRate(m, 5, 10, 8, 30, 45)).toBeNull();
    expect(steerRate({ ...m, b: -0.1 }, 5, 10, 8, 30, 70)).toBeNull();
  });
});
