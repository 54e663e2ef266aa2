/**
 * One pruning step on a model, the core of the search (search.ts) and of the benchmarks' one-shot runs:
 * score the active channels by the criteria, allocate the step's target over the layers (the S4oP depth rule,
 * or following the per-layer-normalised scores), and bypass the lowest-scored channels. Channels bypassed
 * before stay bypassed.
 */
import type { SequenceModel } from '../model/model.js';
import { s4opAllocation, scoreAllocation, targetBypassed } from './allocation.js';
import { importanceScores, type WeightedCriterion } from './criteria/index.js';
import { chooseBypass, normalizePerLayer, type ScoreContext } from './importance.js';
import { applyOperators, bypassedCounts, withBypassed } from './operators.js';

export interface PruneStepOptions {
  /** Percent of all operators bypassed after the step. */
  rate: number;
  criteria: readonly WeightedCriterion[];
  allocation: 's4op' | 'scores';
  /** What the criteria read (sequence length, seed, training data). */
  ctx: ScoreContext;
}

/** Prunes `model` in place to `rate`; returns the step's target and its per-layer bypassed counts. */
export function pruneStep(model: SequenceModel, o: PruneStepOptions): { target: number; counts: number[] } {
  const H = model.config.dModel;
  const { nLayers } = model.config;
  const active = model.activeOperators();
  const target = targetBypassed(o.rate, H, nLayers);
  const scores = importanceScores(model, o.criteria, o.ctx);
  const counts =
    o.allocation === 's4op'
      ? s4opAllocation(H, nLayers, target, bypassedCounts(active, H))
      : scoreAllocation(normalizePerLayer(scores), active, H, target);
  applyOperators(model, withBypassed(active, chooseBypass(active, scores, counts, H)));
  return { target, counts };
}
