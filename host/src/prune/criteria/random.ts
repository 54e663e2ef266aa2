import { randomScores } from '../importance.js';
import type { ImportanceCriterion } from './criterion.js';

export const random: ImportanceCriterion = {
  name: 'random',
  summary: "uniform scores from a seeded stream (the S4oP paper's choice)",
  score: (model, ctx) => randomScores(model, ctx.seed),
};
