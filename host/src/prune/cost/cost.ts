/**
 * The cost seam of the search: how a candidate's latency and memory are obtained. A measurer first
 * identifies the candidate (the hash that keys the measurement cache: exported ONNX bytes for a real
 * measurement), then measures it. The store is asked before measuring, so nothing is measured twice.
 *
 * A candidate is measured *paired*: interleaved with a reference (the run's base) in one job, which gives the
 * ratio the search decides on (see paired.ts); the reference alone is measured once for its absolute figures.
 *
 * `FlopEstimate` is for runs and tests without an agent: an arithmetic count turned into milliseconds at
 * an assumed throughput. It is always recorded and shown as an estimate, never as a measurement.
 */
import { sha256Hex, type ModelFigures } from '@s4op/shared';
import type { SequenceModel } from '../../model/model.js';
import type { Precision } from '../../store/run-store.js';
import { nextPow2 } from '../../ssm/fft.js';

export interface PreparedModel {
  /** Key of the measurement cache (with the measurer's agent and settings). */
  model_sha256: string;
  /** What gets measured (ONNX bytes), when there is something to send. */
  bytes?: Uint8Array;
  name: string;
  /** Arithmetic count of one forward pass (what an estimate is made of). */
  flops?: number;
}

export interface PrepareOptions {
  precision?: Precision;
}

export interface CostFigures {
  p50_ms: number;
  p90_ms: number;
  rss_mb: number | null;
  runtime?: string | null;
  statistics?: unknown;
  memory?: unknown;
  thermal?: unknown;
  throttled?: boolean | null;
  /** The agent that actually measured (a tag may resolve to any of several). */
  measured_by?: string;
  raw?: unknown;
}

/** A paired job: the candidate (B) timed interleaved with the reference (A). */
export interface PairFigures {
  /** The candidate's own figures from the job. */
  candidate: CostFigures;
  /** The reference's p50 in the same job. */
  reference_p50_ms: number;
  /** Median over interleaved pairs of latency(candidate) / latency(reference), and its confidence interval. */
  ratio: number;
  ratio_low: number;
  ratio_high: number;
  /** The agent saw other work keep the board busy during the job (null: it cannot tell). */
  busy?: boolean | null;
}

/**
 * The first model's figures of a stored agent measurement (`raw.measurement`, the protocol's Measurement, as
 * the search stores it); undefined for estimates, figures combined over device classes and older records.
 */
export function storedModelFigures(raw: unknown): Partial<ModelFigures> | undefined {
  const models = (raw as { measurement?: { models?: unknown } } | null)?.measurement?.models;
  return Array.isArray(models) ? (models[0] as Partial<ModelFigures> | undefined) : undefined;
}

export interface CostMeasurer {
  /** Who measures: an agent name, `tag:T`, or the estimator's name. */
  readonly agent: string;
  readonly kind: 'measured' | 'estimate';
  /** Settings that change the figures (part of the cache key). */
  readonly settings: Record<string, unknown>;
  /** Exports (or keys) the model as it would be deployed: `precision` is the candidate's (default float32). */
  prepare(model: SequenceModel, name: string, opts?: PrepareOptions): PreparedModel;
  measure(model: PreparedModel): Promise<CostFigures>;
  /** One paired job; `attempt` distinguishes a re-measure of the same pair (a new job, not a cached answer). */
  measurePair(reference: PreparedModel, candidate: PreparedModel, attempt: number): Promise<PairFigures>;
  /** Measurers that can say where the time goes (an agent's profiling pass): its settings and the job. */
  readonly profileSettings?: Record<string, unknown>;
  profile?(model: PreparedModel): Promise<CostFigures>;
  close(): Promise<void>;
}

export interface FlopEstimateOptions {
  mode: 'conv' | 'step';
  /** Sequence length. */
  length: number;
  /** Assumed sustained throughput in GFLOP/s (default 1). */
  gflops?: number;
}

/** Floating-point operations of one forward pass over a sequence of `L` steps, batch 1. */
export function forwardFlops(model: SequenceModel, mode: 'conv' | 'step', L: number): number {
  const c = model.config;
  const H = c.dModel;
  const M = c.dState / 2;
  const dirs = c.bidirectional ? 2 : 1;
  let flops = c.inputKind === 'continuous' ? 2 * L * c.inputSize * H : L * H;
  for (let i = 0; i < c.nLayers; i++) {
    const A = model.active(i).length;
    if (mode === 'conv') {
      // Real FFT convolution at n = 2L padded: two forward and one inverse transform (~2.5·n·log2 n each),
      // the spectral product, and the D skip.
      const n = nextPow2(2 * L);
      flops += dirs * A * (7.5 * n * Math.log2(n) + 6 * n) + 2 * L * A;
    } else {
      // Per step and kept mode: complex state update (8) and read-out (4); plus the D skip.
      const mask = model.stateMask(i);
      let modes = A * M;
      if (mask) for (const h of model.active(i)) for (let m = 0; m < M; m++) modes -= mask[h * M + m] ? 0 : 1;
      flops += L * (12 * modes * dirs + 2 * A);
    }
    flops += L * H * 8; // GELU
    flops += 2 * L * H * 2 * H + 2 * L * H; // Linear H→2H and bias
    flops += L * H * 4; // GLU
    flops += L * H * 9; // residual and LayerNorm
  }
  flops += L * H + 2 * H * c.numClasses;
  return flops;
}

export class FlopEstimate implements CostMeasurer {
  readonly kind = 'estimate' as const;
  readonly agent = 'estimate:flops';
  readonly settings: Record<string, unknown>;

  constructor(private readonly opts: FlopEstimateOptions) {
    if (!Number.isInteger(opts.length) || opts.length < 1)
      throw new Error(`flop estimate: length must be a positive integer, got ${opts.length}`);
    this.settings = { mode: opts.mode, length: opts.length, gflops: opts.gflops ?? 1 };
  }

  prepare(model: SequenceModel, name: string, opts: PrepareOptions = {}): PreparedModel {
    // The estimate depends only on the architecture, the active operators and pruned states, and the
    // precision (which it cannot see: int8 is counted as float32, so the estimate never favours it).
    const states = model.prunedStates();
    const key = JSON.stringify({
      config: model.config,
      active: model.activeOperators(),
      ...(states.some((l) => l.length) ? { states } : {}),
      ...(opts.precision && opts.precision !== 'float32' ? { precision: opts.precision } : {}),
    });
    return { model_sha256: sha256Hex(key), name, flops: forwardFlops(model, this.opts.mode, this.opts.length) };
  }

  async measure(p: PreparedModel): Promise<CostFigures> {
    const flops = p.flops;
    if (flops === undefined) throw new Error(`flop estimate: ${p.name} was not prepared by this estimator`);
    const ms = flops / ((this.opts.gflops ?? 1) * 1e6);
    return { p50_ms: ms, p90_ms: ms, rss_mb: null, runtime: null, statistics: { flops, estimate: true } };
  }

  async measurePair(reference: PreparedModel, candidate: PreparedModel): Promise<PairFigures> {
    const [a, b] = [await this.measure(reference), await this.measure(candidate)];
    const ratio = b.p50_ms / a.p50_ms;
    return { candidate: b, reference_p50_ms: a.p50_ms, ratio, ratio_low: ratio, ratio_high: ratio, busy: null };
  }

  async close(): Promise<void> {}
}
