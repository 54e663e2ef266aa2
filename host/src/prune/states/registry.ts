/**
 * The state-importance criteria by name (S4D state pruning, issue #15). A new criterion is a file of this
 * folder exporting a StateCriterion, and one entry in STATE_CRITERIA_LIST below.
 */
import { aire } from './aire.js';
import type { StateCriterion } from './criterion.js';
import { last } from './last.js';
import { random } from './random.js';

export const STATE_CRITERIA_LIST: readonly StateCriterion[] = [last, aire, random];

/** The criteria by name, in the list's order. */
export const STATE_CRITERIA: ReadonlyMap<string, StateCriterion> = new Map(STATE_CRITERIA_LIST.map((c) => [c.name, c]));

export function stateCriterionNames(): string[] {
  return [...STATE_CRITERIA.keys()];
}

export function stateCriterion(name: string): StateCriterion {
  const c = STATE_CRITERIA.get(name);
  if (!c) throw new Error(`state pruning: unknown criterion "${name}"; known: ${stateCriterionNames().join(', ')}`);
  return c;
}
