/**
 * The generic check every importance criterion of the registry passes (test/unit/prune-criteria.test.ts runs
 * it over CRITERIA_LIST; registries-dummy.test.ts over a registry with one more criterion): it parses by name
 * and is listed for help, scores S4D and S4 models (bidirectional too) with one finite score per active
 * channel in every layer, deterministically, and a criterion that reads training data says so when given none.
 */
import { expect } from 'vitest';
import { addingProblem } from '../../host/src/data/adding.js';
import { SequenceModel } from '../../host/src/model/model.js';
import type { ImportanceCriterion } from '../../host/src/prune/criteria/criterion.js';
import { chooseBypass, type ScoreContext } from '../../host/src/prune/importance.js';
import { tinyConfig } from './tiny-model.js';

export interface CriteriaApi {
  list: readonly ImportanceCriterion[];
  names(): string[];
  parse(text: string): { criterion: string; weight: number }[];
  score(model: SequenceModel, criterion: string, ctx: ScoreContext): number[][];
}

const data = addingProblem({ length: 20, train: 8, val: 2, test: 2, seed: 1 });

export function checkCriterion(api: CriteriaApi, c: ImportanceCriterion): void {
  expect(c.name).toMatch(/^[a-z][a-z-]*$/);
  expect(api.list.filter((x) => x.name === c.name)).toHaveLength(1);
  expect(api.names()).toContain(c.name);
  expect(api.parse(`2*${c.name}`)).toEqual([{ criterion: c.name, weight: 2 }]);
  expect(c.summary.length).toBeGreaterThan(0);
  for (const over of [{ ssm: 's4d' as const }, { ssm: 's4' as const }, { ssm: 's4d' as const, bidirectional: true }]) {
    const model = new SequenceModel(tinyConfig({ dModel: 5, dState: 4, ...over }), 2);
    try {
      model.setActive(1, [0, 2, 4]);
      const ctx: ScoreContext = { L: 20, seed: 3, data, taylorBatches: 1, batchSize: 4 };
      const scores = api.score(model, c.name, ctx);
      expect(
        scores.map((l) => l.length),
        `${c.name} ${JSON.stringify(over)}`,
      ).toEqual([5, 3]);
      for (const v of scores.flat()) expect(Number.isFinite(v), `${c.name}: ${v}`).toBe(true);
      expect(api.score(model, c.name, ctx)).toEqual(scores);
      const active = model.activeOperators();
      expect(chooseBypass(active, scores, [1, 3], 5).map((l) => l.length)).toEqual([1, 1]);
      if (c.needsData) expect(() => api.score(model, c.name, { L: 20, seed: 3 })).toThrow(/needs training data/);
    } finally {
      model.dispose();
    }
  }
}
