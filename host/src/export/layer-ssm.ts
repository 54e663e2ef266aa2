/**
 * What the exporter needs of each layer's SSM, read from a model's parameters and computed in float64:
 * the active operators, their kernels (from the same float64 kernel code the model trains with), and one
 * discretised step form shared by S4D and S4, in half-complex form (one mode of each conjugate pair):
 *
 *   x' = E∘x + w·Re(qᵀx) + b̄·u,    y = 2·Re(cᵀx') + D·u
 *
 * S4D: E = exp(dt·A), b̄ = (E − 1)/A (ZOH, B folded into C), w = 0.
 * S4:  bilinear Ā = diag(2d − 1) − 4γ·(d∘p)·Re((p̄∘d)ᵀ ·) (ssm/s4/discrete.ts), so E = 2d − 1, w = −4γ·d∘p, q = p̄∘d.
 * The real form s = [Re x; Im x] (2M entries) of the same update is what the chunked convolution uses.
 */
import type { SequenceModel } from '../model/model.js';
import { s4dDiscretize } from '../ssm/s4d/discrete.js';
import { s4dKernelForward } from '../ssm/s4d/kernel.js';
import type { S4DValues } from '../ssm/s4d/params.js';
import { s4KernelForward } from '../ssm/s4/kernel.js';
import { bBar, s4Bilinear } from '../ssm/s4/discrete.js';
import { S4_MODE_FIELDS, s4Channel, type S4ParamArrays } from '../ssm/s4/params.js';

/** One active channel's step form (half-complex, M modes), float64. */
export interface ChannelStep {
  eRe: Float64Array;
  eIm: Float64Array;
  bRe: Float64Array;
  bIm: Float64Array;
  /** Read-out per direction (forward, then backward when bidirectional). */
  cRe: Float64Array[];
  cIm: Float64Array[];
  /** Rank-1 part (S4 only). */
  lowRank?: { wRe: Float64Array; wIm: Float64Array; qRe: Float64Array; qIm: Float64Array };
}

export interface LayerSsm {
  layer: number;
  kind: 's4d' | 's4';
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

type Snapshot = Map<string, { shape: number[]; values: Float32Array }>;

/** Reads every layer's SSM from the model's current parameters. */
export function layerSsms(model: SequenceModel): LayerSsm[] {
  const snap = model.params.snapshot();
  const c = model.config;
  return Array.from({ length: c.nLayers }, (_, i) => {
    const active = Int32Array.from(model.active(i));
    const activeSet = new Set(active);
    const bypassed = Int32Array.from({ length: c.dModel }, (_, h) => h).filter((h) => !activeSet.has(h));
    const Dall = get(snap, `s4_layers.${i}.D`);
    const D = Float64Array.from(active, (h) => Dall[h]!);
    const prefix = `s4_layers.${i}.kernel`;
    const base = { layer: i, H: c.dModel, M: c.dState / 2, active, bypassed, D };
    return c.ssm === 's4d' ? s4dLayer(snap, prefix, base, c.bidirectional) : s4Layer(snap, prefix, base, c.bidirectional);
  });
}

type Base = Pick<LayerSsm, 'layer' | 'H' | 'M' | 'active' | 'bypassed' | 'D'>;

function s4dLayer(snap: Snapshot, prefix: string, base: Base, bidirectional: boolean): LayerSsm {
  const { H, M, active } = base;
  const dirs = bidirectional ? 2 : 1;
  const values: S4DValues = {
    H,
    M,
    logDt: get(snap, `${prefix}.log_dt`),
    logAReal: get(snap, `${prefix}.log_A_real`),
    aImag: get(snap, `${prefix}.A_imag`),
    cRe: get(snap, `${prefix}.C_re`),
    cIm: get(snap, `${prefix}.C_im`),
  };
  // Discretisation is per channel and direction-free: discretise with the forward C only.
  const disc = s4dDiscretize({ ...values, cRe: values.cRe.subarray(0, H * M), cIm: values.cIm.subarray(0, H * M) });
  const steps = Array.from(active, (h): ChannelStep => {
    const s = h * M;
    const rows = (a: Float32Array) => Array.from({ length: dirs }, (_, d) => Float64Array.from(a.subarray(d * H * M + s, d * H * M + s + M)));
    return {
      eRe: disc.dA_re.slice(s, s + M),
      eIm: disc.dA_im.slice(s, s + M),
      bRe: disc.dB_re.slice(s, s + M),
      bIm: disc.dB_im.slice(s, s + M),
      cRe: rows(values.cRe as Float32Array),
      cIm: rows(values.cIm as Float32Array),
    };
  });
  return { ...base, kind: 's4d', dirs, kernel: (L) => s4dKernelForward(values, L, active), steps };
}

const S4_NAMES: Record<(typeof S4_MODE_FIELDS)[number], string> = {
  lambdaRe: 'Lambda_re', lambdaIm: 'Lambda_im', pRe: 'P_re', pIm: 'P_im', bRe: 'B_re', bIm: 'B_im', cRe: 'C_re', cIm: 'C_im',
};

function s4Layer(snap: Snapshot, prefix: string, base: Base, bidirectional: boolean): LayerSsm {
  if (bidirectional) throw new Error('export: bidirectional S4 layers are not supported (S4 is causal only here)');
  const { H, M, active } = base;
  const arrays = { H, M, logDt: get(snap, `${prefix}.log_dt`) } as S4ParamArrays;
  for (const f of S4_MODE_FIELDS) arrays[f] = get(snap, `${prefix}.${S4_NAMES[f]}`);
  const channels = Array.from(active, (h) => s4Channel(arrays, h));
  const steps = channels.map((ch): ChannelStep => {
    const bl = s4Bilinear(ch);
    const [bRe, bIm] = bBar(bl, ch.bRe, ch.bIm);
    const eRe = bl.dRe.map((d) => 2 * d - 1);
    const eIm = bl.dIm.map((d) => 2 * d);
    const g = -4 * bl.gamma;
    return {
      eRe, eIm, bRe, bIm,
      cRe: [Float64Array.from(ch.cRe)],
      cIm: [Float64Array.from(ch.cIm)],
      lowRank: { wRe: bl.uRe.map((v) => g * v), wIm: bl.uIm.map((v) => g * v), qRe: bl.qRe, qIm: bl.qIm },
    };
  });
  const kernel = (L: number) => {
    const out = new Float64Array(channels.length * L);
    channels.forEach((ch, r) => out.set(s4KernelForward(ch, L).k, r * L));
    return out;
  };
  return { ...base, kind: 's4', dirs: 1, kernel, steps };
}

function get(snap: Snapshot, name: string): Float32Array {
  const t = snap.get(name);
  if (!t) throw new Error(`export: the model has no parameter ${name}`);
  return t.values;
}

/**
 * Real form of a channel's free dynamics s ← A·s on s = [Re x; Im x]: applies one step (u = 0) to `s`,
 * writing `out` (no aliasing). Half-complex: x' = E∘x + w·Re(qᵀx).
 */
export function freeStep(st: ChannelStep, s: Float64Array, out: Float64Array): void {
  const M = st.eRe.length;
  let rho = 0;
  if (st.lowRank) for (let m = 0; m < M; m++) rho += st.lowRank.qRe[m]! * s[m]! - st.lowRank.qIm[m]! * s[M + m]!;
  for (let m = 0; m < M; m++) {
    const xr = s[m]!, xi = s[M + m]!;
    out[m] = st.eRe[m]! * xr - st.eIm[m]! * xi;
    out[M + m] = st.eRe[m]! * xi + st.eIm[m]! * xr;
    if (st.lowRank) {
      out[m]! += st.lowRank.wRe[m]! * rho;
      out[M + m]! += st.lowRank.wIm[m]! * rho;
    }
  }
}

/** Real read-out row of direction `d`: y = C·s with C = [2·Re c; −2·Im c]. */
export function readout(st: ChannelStep, d: number): Float64Array {
  const M = st.eRe.length;
  const C = new Float64Array(2 * M);
  for (let m = 0; m < M; m++) {
    C[m] = 2 * st.cRe[d]![m]!;
    C[M + m] = -2 * st.cIm[d]![m]!;
  }
  return C;
}

/** Real input column B = [Re b̄; Im b̄]. */
export function inputColumn(st: ChannelStep): Float64Array {
  const M = st.eRe.length;
  const B = new Float64Array(2 * M);
  B.set(st.bRe, 0);
  B.set(st.bIm, M);
  return B;
}
