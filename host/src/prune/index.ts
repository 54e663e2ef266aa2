export {
  allActive,
  applyOperators,
  activeCount,
  bypassedCounts,
  bypassedOf,
  checkOperators,
  keepsPruned,
  operatorsKey,
  prunedFraction,
  readOperators,
  withBypassed,
} from './operators.js';
export type { ActiveOperators } from './operators.js';
export { apportion, s4opAllocation, scoreAllocation, targetBypassed } from './allocation.js';
export { DEFAULT_RATES, checkRates, parseRates } from './schedule.js';
export {
  ablationScores,
  chooseBypass,
  dScores,
  kernelScores,
  normalizePerLayer,
  randomScores,
  rankNormalize,
  taylorScores,
} from './importance.js';
export type { LayerScores, ScoreContext } from './importance.js';
export {
  CRITERIA,
  CRITERIA_LIST,
  criterionNames,
  criterionScores,
  importanceCriterion,
  importanceScores,
  parseCriteria,
} from './criteria/index.js';
export type { Criterion, ImportanceCriterion, WeightedCriterion } from './criteria/index.js';
export { FlopEstimate, forwardFlops } from './cost/cost.js';
export { fitCostModel, predictCost, steerRate } from './cost/steering.js';
export type { CostModel, CostPoint } from './cost/steering.js';
export type { CostFigures, CostMeasurer, PairFigures, PreparedModel } from './cost/cost.js';
export { AgentMeasurer } from './cost/agent.js';
export type { AgentMeasurerOptions } from './cost/agent.js';
export { runSearch, checkSearchOptions, S4OP_FINETUNE, STRATEGIES } from './search.js';
export type { SearchEnv, SearchOptions, SearchResult, Strategy } from './search.js';
export { candidateRows, formatTable, toCsv } from './report.js';
export {
  BASE_FIGURE,
  budgetRatio,
  chooseFinal,
  combineAttempts,
  dominates,
  figureOf,
  frontPoints,
  paretoFront,
  parseBudget,
  pooledP50,
  slowerThanParent,
} from './paired.js';
export type { Budget, CandidatePaired, FinalRule, FrontPoint, RatioFigure } from './paired.js';
export type { CandidateRow } from './report.js';
export { createPruneRun, loadRunData, recordedRun, runDataset, runMeasurer, searchOptionsFor } from './run-config.js';
export type { PruneRunConfig, SearchRequest } from './run-config.js';
export { pruneStep } from './prune-step.js';
export type { PruneStepOptions } from './prune-step.js';
export {
  STATE_CRITERIA,
  STATE_CRITERIA_LIST,
  checkStatePrunable,
  chooseStateMasks,
  lastNormalize,
  layerS4DValues,
  modelStateMasks,
  pruneStates,
  s4dStateScores,
  stateCriterion,
  stateCriterionNames,
  stateScores,
  STATE_LAYOUTS,
} from './states/index.js';
export type {
  S4DStateKind,
  StateContext,
  StateCriterion,
  StateLayers,
  StateLayout,
  StateMaskOptions,
  StateMasks,
} from './states/index.js';
export { evaluateOnnx } from './onnx-eval.js';
export type { OnnxEvalOptions, OnnxEvalResult } from './onnx-eval.js';
export {
  AXES,
  AXIS_SLOT,
  DEFAULT_STATE_RATES,
  MIN_POINTS,
  checkAxes,
  chooseAxis,
  parseAxes,
  proposeAxes,
} from './axes.js';
export type { AxesPlan, AxesPosition, AxisCandidate, AxisChoice, Proposal } from './axes.js';
export { evaluateAt } from './evaluate-at.js';
