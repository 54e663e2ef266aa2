import type { ModelConfig } from '../../host/src/model/config.js';

/** A small model config for fast tests; override any field. */
export function tinyConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    ssm: 's4d',
    dModel: 6,
    dState: 4,
    nLayers: 2,
    inputKind: 'continuous',
    inputSize: 2,
    numClasses: 3,
    multiLabel: false,
    prenorm: false,
    norm: 'layer',
    dropout: 0,
    bidirectional: false,
    init: 'lin',
    dtMin: 1e-3,
    dtMax: 1e-1,
    ...over,
  };
}
