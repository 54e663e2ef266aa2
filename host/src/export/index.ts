export { exportModel, resolveVariant, checkLength, EXPORT_MODES, OPSET, MAX_LENGTH } from './export.js';
export type { ExportMode, ExportOptions, ExportResult, ExportStats } from './export.js';
export { runStepModel } from './step-runner.js';
export type { StepRun, StepSequence, StepSession, TensorClass } from './step-runner.js';
export type { StepState } from './step.js';
export { CONV_VARIANTS, AUTO_ORDER } from './variants/registry.js';
export type { ConvVariant, VariantOptions } from './variants/variant.js';
export { BYPASS_MODES, type BypassMode } from './bypass.js';
export { decodeModel, type GraphStats } from './onnx-builder.js';
