import { SSM_KIND_NAMES, isSsmKind, orList, type SsmKindName } from './kinds/registry.js';

/** Architecture of a sequence classifier built from S4/S4D blocks (the reference S4D example's layout). */
export interface ModelConfig {
  /** Which SSM kind every block uses (model/kinds/registry.ts). */
  ssm: SsmKindName;
  /** H: channels = operators per layer. */
  dModel: number;
  /** N: state size; each channel has N/2 complex modes (conjugate pairs implied). */
  dState: number;
  nLayers: number;
  inputKind: 'continuous' | 'tokens';
  /** Features per step (continuous input). */
  inputSize: number;
  /** Vocabulary size (token input). */
  vocabSize?: number;
  numClasses: number;
  multiLabel: boolean;
  /** Norm before the SSM (pre-norm) or after the residual (post-norm, the S4D example's default). */
  prenorm: boolean;
  norm: 'layer' | 'batch';
  /** Channel-wise dropout probability. */
  dropout: number;
  bidirectional: boolean;
  /** S4D initialisation of A: S4D-Lin or S4D-Inv. */
  init: 'lin' | 'inv';
  dtMin: number;
  dtMax: number;
}

export const DEFAULT_CONFIG: Omit<ModelConfig, 'inputKind' | 'inputSize' | 'numClasses' | 'multiLabel'> = {
  ssm: SSM_KIND_NAMES[0]!,
  dModel: 64,
  dState: 64,
  nLayers: 4,
  prenorm: false,
  norm: 'layer',
  dropout: 0.1,
  bidirectional: false,
  init: 'lin',
  dtMin: 1e-3,
  dtMax: 1e-1,
};

/**
 * A full config from the defaults: one continuous input feature, 10 classes, single-label (the sMNIST
 * shape), then `over`. The one place programs, tests and benchmarks start a config from.
 */
export function modelConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return { ...DEFAULT_CONFIG, inputKind: 'continuous', inputSize: 1, numClasses: 10, multiLabel: false, ...over };
}

/** Throws an error naming the first field that is out of range. */
export function validateConfig(c: ModelConfig): ModelConfig {
  const positiveInt = (name: keyof ModelConfig, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 1)
      throw new Error(`model config: ${name} must be a positive integer, got ${String(v)}`);
  };
  positiveInt('dModel', c.dModel);
  positiveInt('dState', c.dState);
  positiveInt('nLayers', c.nLayers);
  positiveInt('numClasses', c.numClasses);
  if (c.dState % 2 !== 0) throw new Error(`model config: dState must be even (N/2 complex modes), got ${c.dState}`);
  if (!isSsmKind(c.ssm))
    throw new Error(`model config: ssm must be ${orList(SSM_KIND_NAMES.map((n) => `"${n}"`))}, got "${String(c.ssm)}"`);
  if (c.inputKind === 'continuous') positiveInt('inputSize', c.inputSize);
  else if (c.inputKind === 'tokens') positiveInt('vocabSize', c.vocabSize);
  else throw new Error(`model config: inputKind must be "continuous" or "tokens", got "${String(c.inputKind)}"`);
  if (c.norm !== 'layer' && c.norm !== 'batch')
    throw new Error(`model config: norm must be "layer" or "batch", got "${String(c.norm)}"`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`model config: dropout must be in [0, 1), got ${c.dropout}`);
  if (c.init !== 'lin' && c.init !== 'inv')
    throw new Error(`model config: init must be "lin" or "inv", got "${String(c.init)}"`);
  if (!(c.dtMin > 0 && c.dtMax >= c.dtMin))
    throw new Error(`model config: need 0 < dtMin <= dtMax, got ${c.dtMin}, ${c.dtMax}`);
  return c;
}
