import { dScores } from '../importance.js';
import type { ImportanceCriterion } from './criterion.js';

export const d: ImportanceCriterion = {
  name: 'd',
  summary: '|D|, the skip term',
  score: (model) => dScores(model),
};
