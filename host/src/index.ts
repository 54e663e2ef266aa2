export { initBackend, describeBackend, BACKEND_PRIORITY } from './backend.js';
export type { BackendName, BackendChoice } from './backend.js';
export { InputError } from './errors.js';
export { loadDataset, reloadDataset, BUILTIN_DATASETS, DataError } from './data/dataset.js';
export type { Dataset, DatasetInfo, DatasetOptions, Split, Batch, InputKind } from './data/dataset.js';
export { s4dKernel } from './ssm/s4d/op.js';
export { ssmConv } from './ssm/conv/op.js';
export type { S4DParams } from './ssm/s4d/op.js';
export { initS4D } from './ssm/s4d/params.js';
export { s4dDiscretize, s4dStepRun } from './ssm/s4d/discrete.js';
export { s4dKernelForward } from './ssm/s4d/kernel.js';
export { s4dKernelBackward } from './ssm/s4d/gradient.js';
export type { S4DValues, S4DInit } from './ssm/s4d/params.js';
export type { S4DGrads } from './ssm/s4d/gradient.js';
export type { S4DDiscrete } from './ssm/s4d/discrete.js';
export { ssmConvForward, ssmConvBackward, releaseConvSaved, convSize } from './ssm/conv/conv.js';
export { FFT, fftFor, nextPow2 } from './ssm/fft.js';
export {
  exportModel,
  runStepModel,
  decodeModel,
  CONV_VARIANTS,
  convVariantApplies,
  STEP_VARIANTS,
  VARIANTS,
  variantNames,
  BYPASS_MODES,
  EXPORT_MODES,
  PRECISIONS,
  checkPrecision,
  tuneExport,
  tunedVariant,
  recordTuning,
  listTunings,
  tuneShape,
  modelTuneShape,
  deviceClassOf,
} from './export/index.js';
export type {
  BypassMode,
  ExportMode,
  ExportOptions,
  ExportResult,
  ExportStats,
  Precision,
  StepRun,
  StepSequence,
  StepState,
  TuneShape,
  TuneOption,
  TuningRecord,
  PairMeasurer,
} from './export/index.js';
export {
  startFleet,
  FleetServer,
  AgentConnection,
  JobManager,
  JobFailed,
  MemoryAgentRegistry,
  HostModels,
  spawnLocalAgent,
  formatMeasurement,
} from './fleet/index.js';
export type {
  Fleet,
  FleetServerOptions,
  JobRequest,
  JobOutcome,
  JobTarget,
  AgentRecord,
  AgentRegistry,
} from './fleet/index.js';
export {
  DeployController,
  DeployError,
  DeploymentStore,
  StoreAgentRegistry,
  parseGate,
  evaluateGate,
  parseSelector,
  selectAgents,
  planStages,
  runRollout,
  convergeAgent,
  resolveModel,
} from './fleet/index.js';
export type {
  DeploymentRecord,
  DeploymentAgentRecord,
  LabRecord,
  GateTerm,
  GateOutcome,
  Stage,
  AgentOps,
  FleetAgentView,
  DeploymentView,
  StartFleetOptions,
} from './fleet/index.js';
export * from './prune/index.js';
export * from './store/index.js';
export { SequenceModel } from './model/model.js';
export { DEFAULT_CONFIG } from './model/config.js';
export type { ModelConfig } from './model/config.js';
export { modelConfig } from './model/config.js';
export { loadCheckpoint, saveCheckpoint, readCheckpointConfig } from './model/checkpoint.js';
export { train, evaluate, trainStep, computeGradients, applyGradients, DEFAULT_TRAIN } from './train/trainer.js';
export type { TrainOptions } from './train/trainer.js';
export { AdamW } from './train/optimizer.js';
export { ReplicaPool } from './train/replicas.js';
export { Rng } from './util/random.js';
export { renderRunReport, renderCharts, loadRunReport, reportCharts, reportHtml, renderSvg } from './report/index.js';
export type { RunReport, ReportCandidate, ReportAgent, ChartId, ChartSpec, RenderedChart } from './report/index.js';
export { dashboardRoutes, DashboardSource, DASHBOARD_HTML } from './dashboard/index.js';
export type { DashboardOptions, DashboardState } from './dashboard/index.js';
