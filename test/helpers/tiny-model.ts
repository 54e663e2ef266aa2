import { modelConfig, type ModelConfig } from '../../host/src/model/config.js';

/** A small model config for fast tests; override any field. */
export function tinyConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return modelConfig({
    ssm: 's4d',
    dModel: 6,
    dState: 4,
    nLayers: 2,
    inputSize: 2,
    numClasses: 3,
    dropout: 0,
    ...over,
  });
}
