/**
 * Export entry: a model (with its active operators) → ONNX bytes, the metadata written into them, and
 * graph statistics (node counts, initializer bytes, declared work), split into the SSM part and the rest.
 */
import { PACKAGE_VERSION } from '@s4op/shared';
import type { SequenceModel } from '../model/model.js';
import type { Arithmetic } from './blocks.js';
import { BYPASS_MODES, type BypassMode } from './bypass.js';
import { buildConvGraph } from './conv-graph.js';
import { keptStateWidth, layerSsms } from './layer-ssm.js';
import { GraphBuilder, type GraphStats } from './onnx-builder.js';
import { stepStateBasis, type StepState } from './step.js';
import {
  AUTO_ORDER,
  CONV_VARIANTS,
  autoConvVariant,
  convVariant,
  convVariantApplies,
  stepVariant,
} from './variants/registry.js';
import type { VariantOptions } from './variants/variant.js';

export type ExportMode = 'conv' | 'step';
export const EXPORT_MODES: readonly ExportMode[] = ['conv', 'step'];
export type Precision = 'float32' | 'int8';
export const PRECISIONS: readonly Precision[] = ['float32', 'int8'];
/** DFT needs opset 20 for its axis input; Gelu is an opset-20 op. */
export const OPSET = 20;
/** Longest sequence conv mode accepts (the direct variant alone holds active·L kernel taps per layer). */
export const MAX_LENGTH = 1 << 16;
export const PRODUCER = 's4op';

export interface ExportOptions {
  mode: ExportMode;
  /**
   * Conv: a registered variant or 'auto' (prefix for S4D with few active channels per layer, else chunked:
   * autoConvVariant); step: a registered step variant or 'auto' (the first, packed). Default 'auto'.
   */
  variant?: string;
  /** Sequence length L (conv mode: required; the kernels are precomputed for it). */
  length?: number;
  bypass?: BypassMode;
  /** A fixed batch size (static shapes let onnxruntime plan memory once); default dynamic. */
  batch?: number;
  variantOptions?: VariantOptions;
  /**
   * Arithmetic of the Linears around the SSM (encoder, mixing, decoder); the SSM part stays float32.
   * 'int8': dynamically quantised, int8 weights and uint8 activations (blocks.ts quantizedMatMul). Default float32.
   */
  precision?: Precision;
  /** int8 only: the QDQ form (DequantizeLinear → MatMul) instead of MatMulInteger; for the benchmark, measured no faster. */
  qdq?: boolean;
  /** Provenance recorded in the metadata. */
  source?: { checkpoint?: string; weightsSha256?: string };
}

export interface ExportStats extends GraphStats {
  activeOperators: number;
  totalOperators: number;
}

export interface ExportResult {
  bytes: Uint8Array;
  mode: ExportMode;
  variant: string;
  metadata: Record<string, string>;
  stats: ExportStats;
  /** Step mode: the state inputs and their outputs. */
  states: StepState[];
}

export function resolveVariant(mode: ExportMode, variant = 'auto'): string {
  if (mode === 'step') return stepVariant(variant).name;
  if (variant === 'auto') return AUTO_ORDER.find((v) => CONV_VARIANTS.has(v))!;
  return convVariant(variant).name;
}

export function checkLength(length: unknown): number {
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 1 || length > MAX_LENGTH) {
    throw new Error(
      `unsupported sequence length ${String(length)}: conv mode needs an integer L in [1, ${MAX_LENGTH}]`,
    );
  }
  return length;
}

/** The precision named, or an error naming the value and the choices. */
export function checkPrecision(precision: unknown): Precision {
  if (!(PRECISIONS as readonly unknown[]).includes(precision))
    throw new Error(`unknown precision "${String(precision)}"; expected ${PRECISIONS.join(' or ')}`);
  return precision as Precision;
}

export function exportModel(model: SequenceModel, opts: ExportOptions): ExportResult {
  const c = model.config;
  if (!(EXPORT_MODES as readonly string[]).includes(opts.mode)) {
    throw new Error(`unknown export mode "${String(opts.mode)}"; expected ${EXPORT_MODES.join(' or ')}`);
  }
  const bypass = opts.bypass ?? 'fold';
  if (!BYPASS_MODES.includes(bypass))
    throw new Error(`unknown bypass "${String(bypass)}"; expected ${BYPASS_MODES.join(' or ')}`);
  const precision = checkPrecision(opts.precision ?? 'float32');
  if (opts.qdq && precision !== 'int8') throw new Error('qdq is a form of the int8 precision: give precision int8');
  // What the graph does; the metadata's `precision` names it (int8-qdq for the QDQ form).
  const arithmetic: Arithmetic = precision === 'int8' && opts.qdq ? 'int8-qdq' : precision;
  const ssms = layerSsms(model);
  const L = opts.mode === 'conv' ? checkLength(opts.length) : undefined;
  const variant =
    opts.mode === 'conv' && (opts.variant ?? 'auto') === 'auto'
      ? autoConvVariant(
          c.ssm,
          ssms.map((s) => s.dirs * s.active.length),
          keptStateWidth(model) ?? c.dState / 2,
          L!,
        )
      : resolveVariant(opts.mode, opts.variant);
  if (opts.batch !== undefined && !(Number.isInteger(opts.batch) && opts.batch >= 1)) {
    throw new Error(`batch must be a positive integer (or left out for a dynamic batch), got ${String(opts.batch)}`);
  }
  const batch = opts.batch ?? 'batch';
  const snap = model.params.snapshot();
  const b = new GraphBuilder(`s4op_${c.ssm}_${opts.mode}`, OPSET);
  const variantOptions = opts.variantOptions ?? {};
  let states: StepState[] = [];
  let variantParams: Record<string, number>[] = [];
  if (opts.mode === 'conv') {
    const v = convVariant(variant);
    if (!convVariantApplies(v, c.ssm, L!)) {
      const why =
        v.kinds && !v.kinds.includes(c.ssm)
          ? `does not export ${c.ssm.toUpperCase()} layers`
          : `exports sequences up to L = ${v.maxLength}, not ${L}`;
      const use = [...CONV_VARIANTS.values()].filter((w) => convVariantApplies(w, c.ssm, L!)).map((w) => w.name);
      throw new Error(`conv variant "${variant}" ${why}; use ${use.join(', ')}`);
    }
    buildConvGraph(b, snap, c, ssms, { L: L!, variant: v, variantOptions, bypass, batch, arithmetic });
    variantParams = ssms.map((s) => (s.active.length ? v.describe(s, L!, variantOptions) : {}));
  } else {
    states = stepVariant(variant).build(b, snap, c, ssms, bypass, batch, arithmetic);
  }
  const active = ssms.map((s) => Array.from(s.active));
  const activeOperators = active.reduce((n, a) => n + a.length, 0);
  const totalOperators = c.nLayers * c.dModel;
  const work = b.stats().flopsBySection;
  const metadata: Record<string, string> = {
    architecture: JSON.stringify(c),
    active_operators: JSON.stringify(active),
    pruning_rate: String(1 - activeOperators / totalOperators),
    // Per layer: modes kept by the active channels, and the width the step form is padded to (states pruned).
    state_modes: JSON.stringify(ssms.map((s) => ({ kept: s.modesKept.reduce((a, k) => a + k, 0), width: s.M }))),
    source_sha256: opts.source?.weightsSha256 ?? '',
    source_checkpoint: opts.source?.checkpoint ?? '',
    mode: opts.mode,
    variant,
    variant_requested: opts.variant ?? 'auto',
    variant_params: JSON.stringify(variantParams),
    bypass,
    precision: arithmetic,
    opset: String(OPSET),
    producer_version: PACKAGE_VERSION,
    length: L === undefined ? '' : String(L),
    batch: String(batch),
    inputs: c.inputKind === 'tokens' ? 'tokens' : 'x',
    step_states: JSON.stringify(states),
    step_state_basis: opts.mode === 'step' ? stepStateBasis(c.ssm) : '',
    // Declared work per batch element (per sequence in conv mode, per step in step mode): agents report
    // achieved GFLOP/s from it, and per section (node-name prefix, see onnx-builder.ts) from the profile.
    declared_flops: String(Object.values(work).reduce((a, v) => a + v, 0)),
    declared_flops_by_section: JSON.stringify(work),
  };
  for (const [k, v] of Object.entries(metadata)) b.metadata(k, v);
  const bytes = b.encode({ name: PRODUCER, version: PACKAGE_VERSION });
  return {
    bytes,
    mode: opts.mode,
    variant,
    metadata,
    stats: { ...b.stats(), activeOperators, totalOperators },
    states,
  };
}
