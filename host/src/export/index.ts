export {
  exportModel,
  resolveVariant,
  checkLength,
  checkPrecision,
  EXPORT_MODES,
  PRECISIONS,
  OPSET,
  MAX_LENGTH,
} from './export.js';
export { quantizeColumns } from './blocks.js';
export type { ExportMode, ExportOptions, ExportResult, ExportStats, Precision } from './export.js';
export { runStepModel } from './step-runner.js';
export type { StepRun, StepSequence, StepSession, TensorClass } from './step-runner.js';
export type { StepState } from './step.js';
export {
  CONV_VARIANTS,
  convVariantApplies,
  STEP_VARIANTS,
  VARIANTS,
  AUTO_ORDER,
  convVariant,
  stepVariant,
  variantNames,
  variantsHelp,
} from './variants/registry.js';
export type { ConvVariant, ExportVariant, StepVariant, VariantOptions } from './variants/variant.js';
export { BYPASS_MODES, type BypassMode } from './bypass.js';
export { decodeModel, type GraphStats } from './onnx-builder.js';
export { tuneExport, tuneCandidates, pickWinner, blockLengths, formatTuning } from './tune.js';
export type { PairMeasurer, TuneOptions, TuneCandidate, CandidateOptions } from './tune.js';
export {
  tunedVariant,
  recordTuning,
  listTunings,
  tuneShape,
  modelTuneShape,
  deviceClassOf,
  describeShape,
  tunedLabel,
} from './tuned.js';
export type { TuneShape, TuneOption, TuningRecord, TuningInput } from './tuned.js';
