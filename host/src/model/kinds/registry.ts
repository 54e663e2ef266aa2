/**
 * Every SSM kind, by the name configs and `--model` use (the contract: kind.ts). Adding a kind: its
 * module in this folder and one line here; the model, the exporter, the CLI and the tests read this map.
 */
import type { SsmKind } from './kind.js';
import { s4 } from './s4.js';
import { s4d } from './s4d.js';

export const SSM_KINDS = {
  s4d,
  s4,
} as const satisfies Record<string, SsmKind>;

export type SsmKindName = keyof typeof SSM_KINDS;

/** The kinds' names, in registry order (the first is the default). */
export const SSM_KIND_NAMES = Object.keys(SSM_KINDS) as SsmKindName[];

/** Whether `name` is a registered kind. */
export function isSsmKind(name: unknown): name is SsmKindName {
  return typeof name === 'string' && Object.hasOwn(SSM_KINDS, name);
}

/** The kind called `name`; an unknown name is an error that lists the known ones. */
export function ssmKind(name: string): SsmKind {
  if (!isSsmKind(name)) throw new Error(`unknown SSM kind "${name}"; known: ${SSM_KIND_NAMES.join(', ')}`);
  return SSM_KINDS[name];
}

/**
 * Why states of kind `name` cannot be pruned one by one, or undefined when they can: the one refusal that the
 * model, the state criteria and the search give.
 */
export function statePruningRefusal(name: string): string | undefined {
  const kind = ssmKind(name);
  if (kind.statePruning) return undefined;
  const able = Object.values(SSM_KINDS)
    .filter((k) => k.statePruning)
    .map((k) => k.title);
  return `state pruning is not available for ${kind.title}: ${kind.modesCoupled ?? 'its modes are not independent'} (state pruning is ${orList(able)} only: prune channels instead, or train an ${able[0]} model)`;
}

/** The kinds for prose and help texts: `orList(['a', 'b', 'c'])` is "a, b or c". */
export function orList(items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}
