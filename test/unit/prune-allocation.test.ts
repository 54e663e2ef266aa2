import { describe, expect, it } from 'vitest';
import { apportion, s4opAllocation, scoreAllocation, targetBypassed } from '../../host/src/prune/allocation.js';
import { checkRates, DEFAULT_RATES, parseRates } from '../../host/src/prune/schedule.js';

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

describe('S4oP allocation, worked examples (H = 128, 8 layers)', () => {
  const H = 128;
  const n = 8;
  // Layers 1..7 weigh 2, 4, 8, 16, 32, 64, 128 (sum 254); each holds at most H − 1 = 127.

  it('10 %: target round(102.4) = 102, shares 102·w/254, largest remainders', () => {
    // 102·w/254 = 0.803, 1.606, 3.213, 6.425, 12.850, 25.701, 51.402 → floors 0,1,3,6,12,25,51 (98);
    // 4 more to the largest fractions .850 (L5), .803 (L1), .701 (L6), .606 (L2).
    expect(targetBypassed(10, H, n)).toBe(102);
    expect(s4opAllocation(H, n, 102)).toEqual([0, 1, 2, 3, 6, 13, 26, 51]);
  });

  it('30 %: target 307; layer 7 caps at 127, the other 180 go by 2..64 (sum 126)', () => {
    // 307·128/254 = 154.7 > 127 → cap. 180·w/126 = 2.857, 5.714, 11.429, 22.857, 45.714, 91.429 → floors
    // 2,5,11,22,45,91 (176); 4 more to .857 (L1, L4) and .714 (L2, L5).
    expect(targetBypassed(30, H, n)).toBe(307);
    expect(s4opAllocation(H, n, 307)).toEqual([0, 3, 6, 11, 23, 46, 91, 127]);
  });

  it('50 %: target 512; layers 7, 6, 5 cap, 131 go by 2..16 (sum 30)', () => {
    // 512·128/254 > 127 → cap L7; 385·64/126 = 195.6 → cap L6; 258·32/62 = 133.2 → cap L5;
    // 131·w/30 = 8.733, 17.467, 34.933, 69.867 → floors 8,17,34,69 (128); 3 more: remainders 262, 524,
    // 1048, 2096 mod 30 = 22, 14, 28, 26 → L3, L4, L1.
    expect(targetBypassed(50, H, n)).toBe(512);
    expect(s4opAllocation(H, n, 512)).toEqual([0, 9, 17, 35, 70, 127, 127, 127]);
  });

  it('70 %: target round(716.8) = 717; layers 4..7 cap, 209 go by 2, 4, 8', () => {
    // After L7, L6, L5: 336·16/30 = 179.2 → cap L4; 209·w/14 = 29.857, 59.714, 119.429 → 29, 59, 119 (207);
    // 2 more to .857 (L1) and .714 (L2).
    expect(targetBypassed(70, H, n)).toBe(717);
    expect(s4opAllocation(H, n, 717)).toEqual([0, 30, 60, 119, 127, 127, 127, 127]);
  });

  it('90 %: target round(921.6) = 922 exceeds 7·127 = 889: the deeper layers are full, layer 0 takes 33', () => {
    expect(targetBypassed(90, H, n)).toBe(922);
    expect(s4opAllocation(H, n, 922)).toEqual([33, 127, 127, 127, 127, 127, 127, 127]);
  });

  it('the default schedule never un-prunes a layer (each step is bounded below by the last)', () => {
    let prev = new Array<number>(n).fill(0);
    for (const r of DEFAULT_RATES) {
      const a = s4opAllocation(H, n, targetBypassed(r, H, n), prev);
      expect(sum(a)).toBe(targetBypassed(r, H, n));
      a.forEach((c, i) => expect(c).toBeGreaterThanOrEqual(prev[i]!));
      prev = a;
    }
  });
});

describe('S4oP allocation rule', () => {
  it('at least one channel stays active in every layer', () => {
    expect(targetBypassed(100, 4, 3)).toBe(9);
    expect(s4opAllocation(4, 3, 9)).toEqual([3, 3, 3]);
    expect(() => s4opAllocation(4, 3, 10)).toThrow(/one channel must stay active/);
  });

  it('layer 0 is used only once layers 1…n−1 are full', () => {
    const H = 16;
    const n = 4;
    for (let t = 0; t <= n * (H - 1); t++) {
      const a = s4opAllocation(H, n, t);
      expect(sum(a)).toBe(t);
      a.forEach((c) => expect(c).toBeLessThanOrEqual(H - 1));
      if (a[0]! > 0) expect(a.slice(1)).toEqual([15, 15, 15]);
    }
  });

  it('a small case by hand: H = 10, 3 layers, 30 % → 9 split 2 : 4 over layers 1, 2', () => {
    // 9·2/6 = 3, 9·4/6 = 6: exact, no rounding.
    expect(s4opAllocation(10, 3, targetBypassed(30, 10, 3))).toEqual([0, 3, 6]);
  });

  it('floors: channels already bypassed stay, the rest is spread over the others', () => {
    // Layer 1 already has 5 bypassed, more than its share of 9 (3): it keeps 5, layer 2 takes the other 4.
    expect(s4opAllocation(10, 3, 9, [0, 5, 0])).toEqual([0, 5, 4]);
    // A floor sum above the target lifts the target to it.
    expect(s4opAllocation(10, 3, 2, [1, 2, 3])).toEqual([1, 2, 3]);
  });

  it('one layer: the whole target goes there', () => {
    expect(s4opAllocation(8, 1, targetBypassed(50, 8, 1))).toEqual([4]);
  });

  it('bad inputs are named', () => {
    expect(() => targetBypassed(120, 8, 2)).toThrow(/percentage/);
    expect(() => s4opAllocation(8, 2, -1)).toThrow(/non-negative integer/);
    expect(() => s4opAllocation(8, 2, 3, [0])).toThrow(/1 floors for 2 layers/);
    expect(() => s4opAllocation(8, 2, 3, [0, 8])).toThrow(/layer 1 already has 8/);
  });
});

describe('apportion', () => {
  it('matches clamp(λ·w) with the exact λ on a case with both bounds active', () => {
    // weights 1, 1, 2, 4; total 20; hi 9 everywhere, lo 6 for the first.
    // λ = 20/8 = 2.5 → 2.5, 2.5, 5, 10: the first is under 6, the last over 9 (excess 1 < deficit 3.5),
    // so λ* < 2.5 and the first sits at 6: 14 left over w 1, 2, 4 → λ = 2 → 2, 4, 8. Exact, within bounds.
    expect(apportion(20, [1n, 1n, 2n, 4n], [6, 0, 0, 0], [9, 9, 9, 9])).toEqual([6, 2, 4, 8]);
  });

  it('ties in the remainders go to the later index', () => {
    // 3 over equal weights 1, 1 → 1.5 each → the later one gets the extra unit.
    expect(apportion(3, [1n, 1n], [0, 0], [5, 5])).toEqual([1, 2]);
  });

  it('rejects totals outside the bounds', () => {
    expect(() => apportion(11, [1n, 1n], [0, 0], [5, 5])).toThrow(/outside \[0, 10\]/);
  });
});

describe('score-following allocation', () => {
  it("takes the globally lowest scores, keeping each layer's best channel", () => {
    const active = [
      [0, 1, 2],
      [0, 1, 2],
    ];
    const scores = [
      [0.1, 0.2, 5],
      [0.05, 3, 4],
    ];
    // Lowest three over both layers: 0.05 (L1), 0.1 (L0), 0.2 (L0).
    expect(scoreAllocation(scores, active, 3, 3)).toEqual([2, 1]);
    // Five: every candidate except each layer's best, capped there.
    expect(scoreAllocation(scores, active, 3, 4)).toEqual([2, 2]);
  });

  it('counts channels already bypassed toward the target', () => {
    // Layer 0 has one bypassed already; one more to reach 2: its 0.5 is the lowest candidate.
    expect(
      scoreAllocation(
        [
          [0.5, 2],
          [1, 2, 3],
        ],
        [
          [0, 1],
          [0, 1, 2],
        ],
        3,
        2,
      ),
    ).toEqual([2, 0]);
  });
});

describe('schedule', () => {
  it('parses and checks rates', () => {
    expect(parseRates('10,30,50%,70, 90')).toEqual([10, 30, 50, 70, 90]);
    expect(() => parseRates('10,x')).toThrow(/"x"/);
    expect(() => checkRates([30, 10])).toThrow(/increase strictly/);
    expect(() => checkRates([0])).toThrow(/not a percentage/);
    expect(() => checkRates([])).toThrow(/empty/);
  });
});
