/**
 * What can be pruned: operators. A channel of a layer's SSM (one of d_model) is an operator; bypassing it
 * passes its input to its output (kernel 0, D 1) while mixing, norms and residuals keep full width.
 * A candidate's operators are the sorted active channels of every layer.
 */
import type { SequenceModel } from '../model/model.js';

/** Sorted active channel indices per layer. */
export type ActiveOperators = number[][];

/** Every channel of every layer active (the unpruned model). */
export function allActive(H: number, nLayers: number): ActiveOperators {
  return Array.from({ length: nLayers }, () => Array.from({ length: H }, (_, h) => h));
}

/** Throws an error naming the first problem: layer count, range, order, duplicates, an empty layer. */
export function checkOperators(active: ActiveOperators, H: number, nLayers: number): ActiveOperators {
  if (!Array.isArray(active) || active.length !== nLayers) {
    throw new Error(
      `operators: expected ${nLayers} layers of active channels, got ${Array.isArray(active) ? active.length : typeof active}`,
    );
  }
  active.forEach((layer, i) => {
    if (!Array.isArray(layer)) throw new Error(`operators: layer ${i} is not a list of channels`);
    if (layer.length === 0) throw new Error(`operators: layer ${i} has no active channel (at least one must stay)`);
    let prev = -1;
    for (const h of layer) {
      if (!Number.isInteger(h) || h < 0 || h >= H)
        throw new Error(`operators: layer ${i}: channel ${String(h)} out of range [0, ${H})`);
      if (h <= prev) throw new Error(`operators: layer ${i}: channels must be sorted and unique (${prev} then ${h})`);
      prev = h;
    }
  });
  return active;
}

/** Bypassed channels per layer (sorted). */
export function bypassedOf(active: ActiveOperators, H: number): number[][] {
  return active.map((layer) => {
    const on = new Set(layer);
    return Array.from({ length: H }, (_, h) => h).filter((h) => !on.has(h));
  });
}

/** Number of bypassed channels per layer. */
export function bypassedCounts(active: ActiveOperators, H: number): number[] {
  return active.map((layer) => H - layer.length);
}

export function activeCount(active: ActiveOperators): number {
  return active.reduce((n, layer) => n + layer.length, 0);
}

/** Fraction of all operators that are bypassed. */
export function prunedFraction(active: ActiveOperators, H: number): number {
  return 1 - activeCount(active) / (H * active.length);
}

/** `active` with `drop[i]` additionally bypassed in layer i; every dropped channel must be active. */
export function withBypassed(active: ActiveOperators, drop: number[][]): ActiveOperators {
  if (drop.length !== active.length)
    throw new Error(`operators: ${drop.length} layers to drop from, model has ${active.length}`);
  return active.map((layer, i) => {
    const gone = new Set(drop[i]);
    for (const h of gone)
      if (!layer.includes(h)) throw new Error(`operators: layer ${i}: channel ${h} is already bypassed`);
    const kept = layer.filter((h) => !gone.has(h));
    if (kept.length === 0) throw new Error(`operators: layer ${i} would have no active channel left`);
    return kept;
  });
}

/** True when every channel bypassed in `earlier` is bypassed in `later` too (pruning only grows). */
export function keepsPruned(later: ActiveOperators, earlier: ActiveOperators): boolean {
  return later.every((layer, i) => {
    const before = new Set(earlier[i]);
    return layer.every((h) => before.has(h));
  });
}

export function readOperators(model: SequenceModel): ActiveOperators {
  return model.activeOperators();
}

export function applyOperators(model: SequenceModel, active: ActiveOperators): void {
  checkOperators(active, model.config.dModel, model.config.nLayers);
  active.forEach((layer, i) => model.setActive(i, layer));
}

/** A canonical text of the operator set (for keys and hashing). */
export function operatorsKey(active: ActiveOperators): string {
  return JSON.stringify(active);
}
