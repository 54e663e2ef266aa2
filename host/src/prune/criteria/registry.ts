/**
 * The importance criteria by name: the one list that `--criteria` (help and validation), parseCriteria and
 * the criteria tests read. A new criterion is a file of this folder exporting an ImportanceCriterion, and
 * one entry in CRITERIA_LIST below (test/unit/registries-dummy.test.ts checks that this is all it takes).
 */
import { ablation } from './ablation.js';
import type { ImportanceCriterion } from './criterion.js';
import { d } from './d.js';
import { energyDelta } from './energy-delta.js';
import { energy } from './energy.js';
import { hinfDelta } from './hinf-delta.js';
import { hinf } from './hinf.js';
import { random } from './random.js';
import { taylor } from './taylor.js';

export const CRITERIA_LIST: readonly ImportanceCriterion[] = [
  random,
  hinf,
  energy,
  hinfDelta,
  energyDelta,
  d,
  taylor,
  ablation,
];

/** The criteria by name, in the list's order. */
export const CRITERIA: ReadonlyMap<string, ImportanceCriterion> = new Map(CRITERIA_LIST.map((c) => [c.name, c]));

export function criterionNames(): string[] {
  return [...CRITERIA.keys()];
}

export function importanceCriterion(name: string): ImportanceCriterion {
  const c = CRITERIA.get(name);
  if (!c) throw new Error(`importance: unknown criterion "${name}"; known: ${criterionNames().join(', ')}`);
  return c;
}
