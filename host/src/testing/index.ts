/**
 * `@s4op/host/testing`: fixtures shared by the repository's tests and benchmarks (tiny, real ONNX files),
 * kept out of the main entry point so a program using the host does not load them.
 */
export {
  badShapeModel,
  externalDataModel,
  mixedInputModel,
  mlpModel,
  mlpModelOfSize,
  stringInputModel,
} from './onnx-models.js';
export type { MlpOptions } from './onnx-models.js';
export { relErr } from './numeric.js';
