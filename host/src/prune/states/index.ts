export { STATE_CRITERIA, STATE_CRITERIA_LIST, stateCriterion, stateCriterionNames } from './registry.js';
export type { StateContext, StateCriterion } from './criterion.js';
export { s4dStateScores } from './modes.js';
export type { S4DStateKind } from './modes.js';
export { checkStatePrunable, layerS4DValues, stateScores } from './scores.js';
export { chooseStateMasks, lastNormalize, STATE_LAYOUTS } from './threshold.js';
export type { StateLayers, StateLayout, StateMaskOptions, StateMasks } from './threshold.js';
export { modelStateMasks, pruneStates } from './apply.js';
