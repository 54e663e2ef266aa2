import { kernelScores } from '../importance.js';
import type { ImportanceCriterion } from './criterion.js';

export const energyDelta: ImportanceCriterion = {
  name: 'energy-delta',
  summary: 'energy of what bypassing changes, K + (D − 1)·δ',
  score: (model, ctx) => kernelScores(model, ctx.L, 'energy', true),
};
