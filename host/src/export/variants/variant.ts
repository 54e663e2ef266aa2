/**
 * The export variants of both modes, listed once in registry.ts. A step variant lays out the streaming
 * graph's state (step.ts builds it); a conv variant is one way of computing an SSM layer's long convolution
 * in ONNX. Every conv variant computes the same thing, for the layer's active operators only:
 *   y[b, h, t] = Σ_{l ≤ t} k_f[h, l]·u[b, h, t−l] (+ Σ_l k_b[h, l]·u[b, h, t+1+l] if bidirectional) + D[h]·u[b, h, t]
 */
import type { ModelConfig } from '../../model/config.js';
import type { Arithmetic, Snapshot } from '../blocks.js';
import type { BypassMode } from '../bypass.js';
import type { GraphBuilder } from '../onnx-builder.js';
import type { LayerSsm } from '../layer-ssm.js';
import type { BatchDim, StepState } from '../step.js';

export interface VariantOptions {
  /** Chunked variant: block length T (default chosen from d_state and L). */
  block?: number;
}

export interface ConvVariant {
  mode: 'conv';
  name: string;
  summary: string;
  /**
   * Emits the convolution of `u` ([batch, active, L], channels first) with the layer's kernels and D skip;
   * returns the name of the result (same shape). Nodes are emitted in the builder's current section.
   */
  build(b: GraphBuilder, u: string, ssm: LayerSsm, L: number, opts: VariantOptions): string;
  /** SSM kinds the variant can export (default: both). */
  kinds?: readonly ('s4d' | 's4')[];
  /**
   * Set on a variant kept for comparison whose node count grows with L (the reason, for tests and docs);
   * every other variant emits a number of nodes per layer that does not depend on L.
   */
  legacy?: string;
  /**
   * Set on a variant whose node count grows with log₂ of the number of blocks: at most `nodesPerLevel` more
   * nodes per level and `maxLevels` levels (past them the block length grows instead); tests check the bound.
   */
  logBlocks?: { nodesPerLevel: number; maxLevels: number };
  /** Longest sequence the variant exports (default: any export length); past it, export refuses and the tuner skips it. */
  maxLength?: number;
  /** Parameters worth recording in the model's metadata (e.g. FFT size, block length). */
  describe(ssm: LayerSsm, L: number, opts: VariantOptions): Record<string, number>;
}

export interface StepVariant {
  mode: 'step';
  name: string;
  summary: string;
  /** Emits the whole step graph (inputs, state inputs and outputs, logits); returns the state pairs. */
  build(
    b: GraphBuilder,
    snap: Snapshot,
    c: ModelConfig,
    ssms: LayerSsm[],
    bypass: BypassMode,
    batch: BatchDim,
    arithmetic?: Arithmetic,
  ): StepState[];
}

export type ExportVariant = ConvVariant | StepVariant;
