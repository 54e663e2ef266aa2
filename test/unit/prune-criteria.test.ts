/** Every criterion of the registry (prune/criteria/registry.ts) passes the generic check; a new one is tested by being listed. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { CRITERIA_LIST, criterionNames, criterionScores, parseCriteria } from '../../host/src/prune/criteria/index.js';
import { checkCriterion, type CriteriaApi } from '../helpers/criterion-check.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const api: CriteriaApi = { list: CRITERIA_LIST, names: criterionNames, parse: parseCriteria, score: criterionScores };

describe('importance criteria registry', () => {
  it('lists the built-in criteria', () => {
    expect(criterionNames()).toEqual(
      expect.arrayContaining(['random', 'hinf', 'energy', 'hinf-delta', 'energy-delta', 'd', 'taylor', 'ablation']),
    );
  });

  it.each(CRITERIA_LIST.map((c) => [c.name, c] as const))('%s passes the generic criterion check', (_name, c) => {
    checkCriterion(api, c);
  });
});
