import { kernelScores } from '../importance.js';
import type { ImportanceCriterion } from './criterion.js';

export const hinf: ImportanceCriterion = {
  name: 'hinf',
  summary: "the channel kernel's H∞ norm (peak gain over a 4L-point frequency grid)",
  score: (model, ctx) => kernelScores(model, ctx.L, 'hinf'),
};
