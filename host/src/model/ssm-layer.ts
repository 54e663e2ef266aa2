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
  /**
   * d_model and the complex modes per channel in the step form: d_state / 2, or with pruned states the
   * most any active channel keeps (channels that keep fewer are padded with empty modes: E, b̄, c = 0).
   */
  H: number;
  M: number;
  /** Modes each active channel keeps (in the order of `active`). */
  modesKept: Int32Array;
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
    const mask = model.stateMask(i);
    const readout = new Set(kind.statePruning?.readout ?? []);
    const value = (field: string) => {
      const v = get(`${prefix}.${kind.paramNames[field]}`);
      // The masked model is the model with the masked modes' C at 0 (held there by training, made sure here).
      if (!mask || !readout.has(field)) return v;
      return Float32Array.from(v, (x, j) => (mask[j % mask.length] ? x : 0));
    };
    const ssm = kind.read(value, dims, active, c.bidirectional);
    if (!mask) {
      const modesKept = new Int32Array(active.length).fill(dims.M);
      return { layer: i, kind: c.ssm, ...dims, modesKept, active, bypassed, D, ...ssm };
    }
    const kept = Array.from(active, (h) => keptModes(mask, h, dims.M));
    const modesKept = Int32Array.from(kept, (k) => k.length);
    const M = Math.max(1, ...modesKept);
    const steps = ssm.steps.map((st, r) => compactStep(st, kept[r]!, M));
    return {
      layer: i,
      kind: c.ssm,
      H: dims.H,
      M,
      modesKept,
      active,
      bypassed,
      D,
      dirs: ssm.dirs,
      kernel: ssm.kernel,
      steps,
    };
  });
}

/**
 * The most modes an active channel keeps, over the layers that have active channels; undefined when every
 * active channel keeps all its modes (the width a layer's exported step form is padded to, LayerSsm.M).
 */
export function keptStateWidth(model: SequenceModel): number | undefined {
  const M = model.config.dState / 2;
  let widest: number | undefined;
  for (let i = 0; i < model.config.nLayers; i++) {
    const active = model.active(i);
    if (!active.length) continue;
    const mask = model.stateMask(i);
    for (const h of active) widest = Math.max(widest ?? 0, mask ? keptModes(mask, h, M).length : M);
  }
  return widest === undefined || widest === M ? undefined : widest;
}

/** Kept mode indices of channel `h` under `mask` ([H·M], 1 = kept). */
function keptModes(mask: Uint8Array, h: number, M: number): number[] {
  const out: number[] = [];
  for (let m = 0; m < M; m++) if (mask[h * M + m]) out.push(m);
  return out;
}

/**
 * The channel's step form with only the `kept` modes, padded to `width` modes with empty ones (E, b̄, c = 0:
 * a state that stays 0 and reads out nothing). Pruned modes are then absent from every exported tensor, and
 * the layer's tensors stay rectangular at its widest channel.
 */
function compactStep(st: ChannelStep, kept: number[], width: number): ChannelStep {
  const pick = (a: Float64Array) => {
    const out = new Float64Array(width);
    kept.forEach((m, k) => (out[k] = a[m]!));
    return out;
  };
  if (st.lowRank) throw new Error('state pruning: a rank-1 step form cannot drop modes');
  return {
    eRe: pick(st.eRe),
    eIm: pick(st.eIm),
    bRe: pick(st.bRe),
    bIm: pick(st.bIm),
    cRe: st.cRe.map(pick),
    cIm: st.cIm.map(pick),
  };
}
