/**
 * State scores of a whole model: each layer's S4D parameters read from the model, scored by a criterion
 * of registry.ts. Only S4D has removable states; see checkStatePrunable.
 */
import { statePruningRefusal } from '../../model/kinds/registry.js';
import { S4D_PARAM_NAMES } from '../../model/kinds/s4d.js';
import type { SequenceModel } from '../../model/model.js';
import type { S4DValues } from '../../ssm/s4d/params.js';
import { stateCriterion } from './registry.js';

/**
 * Throws unless the model's kind has removable states (S4D). S4's state matrix is DPLR, A = Λ − PQ*: the
 * low-rank term couples every mode to every other, so removing one mode changes the rest and the per-mode
 * scores mean nothing.
 */
export function checkStatePrunable(model: SequenceModel): void {
  const refusal = statePruningRefusal(model.config.ssm);
  if (refusal) throw new Error(refusal);
}

/** Layer i's S4D parameters (float32 copies from the model's variables). */
export function layerS4DValues(model: SequenceModel, i: number): S4DValues {
  checkStatePrunable(model);
  const { dModel: H, dState, nLayers } = model.config;
  if (!Number.isInteger(i) || i < 0 || i >= nLayers)
    throw new Error(`state pruning: layer ${i} out of range (model has ${nLayers})`);
  const read = (f: keyof typeof S4D_PARAM_NAMES) =>
    model.params.get(`s4_layers.${i}.kernel.${S4D_PARAM_NAMES[f]}`).dataSync() as Float32Array;
  return {
    H,
    M: dState / 2,
    logDt: read('logDt'),
    logAReal: read('logAReal'),
    aImag: read('aImag'),
    cRe: read('cRe'),
    cIm: read('cIm'),
  };
}

/**
 * Per layer, the score of every state (length H·M, index h·M + m), bypassed channels' states included
 * (chooseStateMasks skips them). `criterion` is a name from registry.ts.
 */
export function stateScores(model: SequenceModel, criterion: string, seed = 0): Float64Array[] {
  const c = stateCriterion(criterion);
  checkStatePrunable(model);
  const layers = Array.from({ length: model.config.nLayers }, (_, i) => layerS4DValues(model, i));
  return c.score(layers, { seed });
}
