/**
 * The axes' rules (prune/axes.ts): what each axis proposes from a parent, and which move a step takes —
 * the most paired latency per validation point lost, nothing beyond the drop limit or no faster than the parent
 * (and then, from the same parent, the next point past it).
 */
import { describe, expect, it } from 'vitest';
import { AXIS_SLOT, axisPoint, chooseAxis, parseAxes, proposeAxes } from '../../host/src/prune/axes.js';

const plan = { axes: ['operators', 'states', 'int8'] as const, rates: [30, 60], stateRates: [25, 50], seeds: 2 };

describe('proposeAxes', () => {
  it("proposes the next point of every axis from the parent's position", () => {
    expect(proposeAxes({ ...plan, axes: [...plan.axes] }, { rate: 0 })).toEqual([
      { axis: 'operators', j: 0, rate: 30, stateRate: 0 },
      { axis: 'operators', j: 1, rate: 30, stateRate: 0 },
      { axis: 'states', j: AXIS_SLOT.states, rate: 0, stateRate: 25 },
      { axis: 'int8', j: AXIS_SLOT.int8, rate: 0, stateRate: 0 },
    ]);
    // At 30 % operators, 50 % states, int8: only the operators have a next point.
    expect(
      proposeAxes({ ...plan, axes: [...plan.axes] }, { rate: 30, state_rate: 50, precision: 'int8' }).map((p) => [
        p.axis,
        p.rate,
        p.stateRate,
      ]),
    ).toEqual([
      ['operators', 60, 50],
      ['operators', 60, 50],
    ]);
    expect(proposeAxes({ ...plan, axes: [...plan.axes] }, { rate: 60, state_rate: 50, precision: 'int8' })).toEqual([]);
    expect(proposeAxes({ ...plan, axes: [...plan.axes] }, { rate: 0 }, new Set(['operators', 'int8']))).toEqual([
      { axis: 'states', j: AXIS_SLOT.states, rate: 0, stateRate: 25 },
    ]);
  });

  it('goes past the points already tried from the same parent that were no faster', () => {
    const all = { ...plan, axes: [...plan.axes] };
    const at = (passed: ['operators' | 'states' | 'int8', number][]) =>
      proposeAxes(all, { rate: 0 }, new Set(), new Map(passed)).map((p) => [p.axis, p.rate, p.stateRate]);
    expect(at([['states', 25]])).toEqual([
      ['operators', 30, 0],
      ['operators', 30, 0],
      ['states', 0, 50],
      ['int8', 0, 0],
    ]);
    expect(
      at([
        ['operators', 30],
        ['states', 50],
        ['int8', axisPoint('int8', { rate: 0, stateRate: 0 })],
      ]),
    ).toEqual([
      ['operators', 60, 0],
      ['operators', 60, 0],
    ]);
    expect(
      at([
        ['operators', 60],
        ['states', 50],
        ['int8', 1],
      ]),
    ).toEqual([]);
    expect(axisPoint('operators', { rate: 30, stateRate: 50 })).toBe(30);
    expect(axisPoint('states', { rate: 30, stateRate: 50 })).toBe(50);
  });
});

describe('chooseAxis', () => {
  const parent = { ratio: 1, metric: 0.9 };
  it('takes the most latency per point lost, each axis by its best validation candidate', () => {
    const r = chooseAxis(parent, 0.9, [
      { id: 1, axis: 'operators', ratio: 0.7, metric: 0.88 }, // 0.30 / 2 points = 0.15
      { id: 2, axis: 'operators', ratio: 0.6, metric: 0.85 }, // worse by validation: not the axis's candidate
      { id: 3, axis: 'states', ratio: 0.9, metric: 0.899 }, // 0.10 / max(0.1, 0.1) = 1.0
      { id: 4, axis: 'int8', ratio: 0.8, metric: 0.86 }, // 0.20 / 4 = 0.05
    ]);
    expect(r.chosen?.id).toBe(3);
    expect(r.verdicts.map((v) => [v.axis, v.id, v.value === null ? null : Number(v.value.toFixed(6))])).toEqual([
      ['operators', 1, 0.15],
      ['states', 3, 1],
      ['int8', 4, 0.05],
    ]);
  });

  it('no move beyond the drop limit or without a gain', () => {
    const r = chooseAxis(
      parent,
      0.92,
      [
        { id: 1, axis: 'operators', ratio: 0.5, metric: 0.89 }, // 3 points below the base of 0.92
        { id: 2, axis: 'int8', ratio: 1.02, metric: 0.9 }, // slower than its parent
      ],
      2,
    );
    expect(r.chosen).toBeNull();
    expect(r.verdicts[0]!.reason).toMatch(/3\.00 points below the base \(limit 2\)/);
    expect(r.verdicts[1]!.reason).toMatch(/no faster than its parent/);
    // Without the limit the operator candidate is a move.
    expect(chooseAxis(parent, 0.92, [{ id: 1, axis: 'operators', ratio: 0.5, metric: 0.89 }]).chosen?.id).toBe(1);
  });
});

describe('parseAxes', () => {
  it('canonical order, clear errors', () => {
    expect(parseAxes('int8,operators')).toEqual(['operators', 'int8']);
    expect(parseAxes(' states ')).toEqual(['states']);
    expect(() => parseAxes('operators,weights')).toThrow(/unknown axis "weights"; known: operators, states, int8/);
    expect(() => parseAxes('states,states')).toThrow(/names an axis twice/);
    expect(() => parseAxes('')).toThrow(/at least one/);
  });
});
