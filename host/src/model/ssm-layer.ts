/**
 * A layer's SSM through its kind (kinds/registry.ts): created with its parameters for training, and read
 * back in float64 (active operators, D, kernels, step form) for the exporter and the pruning criteria.
 */
import type { ModelConfig } from './config.js';
import type { ChannelStep, SsmKernel } from './kinds/kind.js';
import { SSM_KINDS, orList, ssmKind, type SsmKindName } from './kinds/registry.js';
import type { SequenceModel } from './model.js';
import type { ParamStore } from './params.js';

/** Adds layer parameters of the config's kind under `prefix` and returns its kernel. */
export function createSsm(params: ParamStore, prefix: string, c: ModelConfig, seed: number): SsmKernel {
  const kind = ssmKind(c.ssm);
  if (c.bidirectional && !kind.bidirectional) {
    const two = Object.values(SSM_KINDS)
      .filter((k) => k.bidirectional)
      .map((k) => k.title);
    throw new Error(`model config: bidirectional is supported for ${orList(two)} only`);
  }
  return kind.create(params, prefix, { H: c.dModel, M: c.dState / 2 }, c, seed);
}

export interface LayerSsm {
  layer: number;
  kind: SsmKindName;
  /** d_model and complex modes per channel (d_state / 2). */
  H: number;
  M: number;
  dirs: 1 | 2;
  /** Sorted active operators, and the bypassed rest (sorted). */
  active: Int32Array;
  bypassed: Int32Array;
  /** D of the active channels, in the order of `active`. */
  D: Float64Array;
  /** Kernel rows [dirs·active, L] (forward rows first), float64. */
  kernel(L: number): Float64Array;
  /** Step form of each active channel, in the order of `active`. */
  steps: ChannelStep[];
}

/** Reads every layer's SSM from the model's current parameters. */
export function layerSsms(model: SequenceModel): LayerSsm[] {
  const snap = model.params.snapshot();
  const c = model.config;
  const kind = ssmKind(c.ssm);
  if (c.bidirectional && !kind.bidirectional) {
    throw new Error(`export: bidirectional ${kind.title} layers are not supported (${kind.title} is causal only here)`);
  }
  const get = (name: string): Float32Array => {
    const t = snap.get(name);
    if (!t) throw new Error(`export: the model has no parameter ${name}`);
    return t.values;
  };
  return Array.from({ length: c.nLayers }, (_, i) => {
    const active = Int32Array.from(model.active(i));
    const activeSet = new Set(active);
    const bypassed = Int32Array.from({ length: c.dModel }, (_, h) => h).filter((h) => !activeSet.has(h));
    const Dall = get(`s4_layers.${i}.D`);
    const D = Float64Array.from(active, (h) => Dall[h]!);
    const prefix = `s4_layers.${i}.kernel`;
    const dims = { H: c.dModel, M: c.dState / 2 };
    const ssm = kind.read((field) => get(`${prefix}.${kind.paramNames[field]}`), dims, active, c.bidirectional);
    return { layer: i, kind: c.ssm, ...dims, active, bypassed, D, ...ssm };
  });
}
