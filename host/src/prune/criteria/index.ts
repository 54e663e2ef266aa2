export { CRITERIA, CRITERIA_LIST, criterionNames, importanceCriterion } from './registry.js';
export { criterionScores, importanceScores, parseCriteria } from './combine.js';
export type { Criterion, WeightedCriterion } from './combine.js';
export type { ImportanceCriterion } from './criterion.js';
