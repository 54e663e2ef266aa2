import { taylorScores } from '../importance.js';
import type { ImportanceCriterion } from './criterion.js';

export const taylor: ImportanceCriterion = {
  name: 'taylor',
  summary: 'first-order estimate of the loss change from bypassing the channel, on training batches',
  needsData: true,
  score: (model, ctx) =>
    taylorScores(model, ctx.data!, { batches: ctx.taylorBatches, batchSize: ctx.batchSize, seed: ctx.seed }),
};
