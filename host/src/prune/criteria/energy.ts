import { kernelScores } from '../importance.js';
import type { ImportanceCriterion } from './criterion.js';

export const energy: ImportanceCriterion = {
  name: 'energy',
  summary: "the kernel's impulse-response energy Σ K[l]²",
  score: (model, ctx) => kernelScores(model, ctx.L, 'energy'),
};
