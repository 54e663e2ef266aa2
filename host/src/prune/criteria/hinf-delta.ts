import { kernelScores } from '../importance.js';
import type { ImportanceCriterion } from './criterion.js';

export const hinfDelta: ImportanceCriterion = {
  name: 'hinf-delta',
  summary: 'H∞ norm of what bypassing changes, K + (D − 1)·δ',
  score: (model, ctx) => kernelScores(model, ctx.L, 'hinf', true),
};
