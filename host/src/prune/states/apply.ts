/**
 * A state-pruning step on a model (the states axis of the search, and the one-shot benchmark): score the
 * modes, choose the masks by the global threshold (threshold.ts), set them on the model. Cumulative: modes
 * pruned before stay pruned.
 */
import type { SequenceModel } from '../../model/model.js';
import { chooseStateMasks, type StateLayout, type StateMasks } from './threshold.js';

/** The model's masks per layer, all kept where a layer has none. */
export function modelStateMasks(model: SequenceModel): Uint8Array[] {
  const n = model.config.dModel * (model.config.dState / 2);
  return Array.from({ length: model.config.nLayers }, (_, i) => model.stateMask(i) ?? new Uint8Array(n).fill(1));
}

/**
 * Prunes `model` in place to `rate` percent of its active channels' modes (layout 'balanced' by default: every
 * channel of a layer keeps the same count, so the export pads nothing); returns what was chosen.
 */
export function pruneStates(
  model: SequenceModel,
  o: { rate: number; criterion?: string; seed?: number; layout?: StateLayout },
): StateMasks {
  const r = chooseStateMasks(model, o.rate / 100, {
    criterion: o.criterion ?? 'last',
    seed: o.seed ?? 0,
    masks: modelStateMasks(model),
    layout: o.layout ?? 'balanced',
  });
  r.masks.forEach((m, i) => model.setStateMask(i, m));
  return r;
}
