/**
 * What makes a layer's SSM one kind or another (S4D, S4, …): the contract each kind module fulfils.
 * A kind owns its parameter names (field → name, once), how they are initialised and turned into a
 * differentiable kernel, their float64 kernel and discretised step form, and how that step form fills
 * the exported step graph's state rows. The model (ssm-layer.ts), the exporter (export/layer-ssm.ts,
 * export/step.ts), the CLI and the pruning criteria ask the registry (registry.ts) for a kind by name and
 * never switch on it: a new kind is one file in this folder plus one line in registry.ts.
 *
 * Why in model/ and not in ssm/: a kind names its parameters in the model's ParamStore and reads them back
 * from the model's values; ssm/ holds the maths with no notion of a model, and the layers point one way
 * (ssm → model → export). The export hooks are plain numbers (the half-complex step form below and the
 * operands of the state rows), so nothing here imports export/.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config.js';
import type { ParamStore } from '../params.js';

/** A layer's SSM as the model trains it. */
export interface SsmKernel {
  /**
   * Kernel rows of the active channels ([dirs·active.length, L]); differentiable. With a state mask
   * ([H·M], 1 = kept; kinds with `statePruning` only) the masked modes' read-out is 0, so they add nothing
   * and get no gradient.
   */
  kernel(L: number, active: Int32Array, stateMask?: Uint8Array | null): tf.Tensor2D;
  /** SSM parameters owned by one channel (what bypassing it removes, D excluded). */
  readonly paramsPerChannel: number;
}

/**
 * One active channel's discretised step form in half-complex form (one mode of each conjugate pair),
 * float64, shared by every kind:
 *
 *   x' = E∘x + w·Re(qᵀx) + b̄·u,    y = 2·Re(cᵀx') + D·u
 *
 * The real form s = [Re x; Im x] (2M entries) of the same update is what the chunked convolution uses.
 */
export interface ChannelStep {
  eRe: Float64Array;
  eIm: Float64Array;
  bRe: Float64Array;
  bIm: Float64Array;
  /** Read-out per direction (forward, then backward when bidirectional). */
  cRe: Float64Array[];
  cIm: Float64Array[];
  /** Rank-1 part (absent for a diagonal A). */
  lowRank?: { wRe: Float64Array; wIm: Float64Array; qRe: Float64Array; qIm: Float64Array };
}

/** A layer's SSM read in float64 from parameter values, for the exporter and the pruning criteria. */
export interface SsmValues {
  dirs: 1 | 2;
  /** Kernel rows [dirs·active, L] (forward rows first). */
  kernel(L: number): Float64Array;
  /** Step form of each active channel, in the order of `active`. */
  steps: ChannelStep[];
}

/**
 * Operands of the exported step on a state of [active, 2, K] (K = M, or M + 1 with export/step.ts's skip
 * slot): e1 multiplies the state, e2 the state with its two rows swapped, bv the input; with a rank-1
 * term, qv makes ρ = Σ qv·x and wv multiplies ρ, and cv weighs the read-out sum (unused otherwise).
 */
export interface StepOperands {
  e2: Float64Array;
  bv: Float64Array;
  cv: Float64Array;
  wv: Float64Array;
  qv: Float64Array;
}

/** How a kind's channels are laid out in the exported step graph's state (export/step.ts). */
export interface StepLayout {
  /** The step has the rank-1 term w·Re(qᵀx) and a weighted read-out (rows Re x and Im x). */
  readonly lowRank: boolean;
  /** What the two rows of each channel's state hold, for the model's metadata. */
  readonly basis: string;
  /**
   * Writes mode m of channel `st` into `t` at `re` (first row) and `im` (second row); e1 = Re E on both
   * rows is the same for every kind and written by the caller.
   */
  fill(st: ChannelStep, m: number, re: number, im: number, t: StepOperands): void;
}

export interface SsmKind {
  /** Name in configs, `--model` and checkpoint directories. */
  readonly name: string;
  /** Name in prose (help texts, log lines): 'S4D'. */
  readonly title: string;
  /** Whether the kind has a bidirectional form (two C per channel); create and read get `bidirectional` only then. */
  readonly bidirectional: boolean;
  /** Field → parameter name under `s4_layers.{i}.kernel` (the state-spaces code's names). */
  readonly paramNames: Readonly<Record<string, string>>;
  /** Adds the layer's initialised parameters to `params` under `prefix` and returns its kernel. */
  create(params: ParamStore, prefix: string, dims: { H: number; M: number }, c: ModelConfig, seed: number): SsmKernel;
  /**
   * The layer's float64 kernel and step form for the `active` channels; `value(field)` returns the
   * values of the parameter `paramNames[field]`.
   */
  read(
    value: (field: string) => Float32Array,
    dims: { H: number; M: number },
    active: Int32Array,
    bidirectional: boolean,
  ): SsmValues;
  readonly step: StepLayout;
  /**
   * Present when one mode of a channel can be removed alone (state pruning): the fields laid out
   * [dirs·H·M] that read a mode out (a masked mode's entries are 0 there). Absent for S4, whose modes are
   * coupled by the rank-1 term.
   */
  readonly statePruning?: { readonly readout: readonly string[] };
  /** Without `statePruning`: why this kind's modes cannot be removed one by one (for the refusal's message). */
  readonly modesCoupled?: string;
}
