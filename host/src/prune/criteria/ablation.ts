import { ablationScores } from '../importance.js';
import type { ImportanceCriterion } from './criterion.js';

export const ablation: ImportanceCriterion = {
  name: 'ablation',
  summary: 'measured loss increase when the channel alone is bypassed, on training batches',
  needsData: true,
  score: (model, ctx) =>
    ablationScores(model, ctx.data!, { batches: ctx.taylorBatches, batchSize: ctx.batchSize, seed: ctx.seed }),
};
