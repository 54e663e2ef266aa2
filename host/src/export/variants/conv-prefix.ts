/**
 * Prefix variant: the chunked decomposition (conv-chunked.ts: blocks of T steps, a T×T Toeplitz MatMul per
 * channel within a block, the SSM state carried across blocks) with the carry done in a fixed number of
 * nodes, whatever L: no node per block.
 *
 * The state entering block j is X_j = Σ_{i<j} ζ^{j−1−i} V_i per mode (ζ = z^T the mode's per-block decay,
 * V_i block i's input-to-state). Written as ζ^{j−1−c}·Σ_{i<j} ζ^{c−i}·V_i, that is a scaled prefix sum
 * (ONNX CumSum) between two elementwise complex products with precomputed power tables — exact, but the
 * tables span |ζ|^{±nb}, which a fast-decaying mode cannot afford. So the nb blocks are cut into G segments
 * of S blocks and the prefix sum runs at two levels, each with its powers centred on the middle of its range,
 * in float32 when every table entry stays within e^{±40}, else in float64 (tables up to e^{±300}):
 *
 *   W_{g,s}  = ζ^{c−s}·V_{g,s}                                  (scaled block inputs, c = centre of a segment)
 *   F_g      = ζ^{S−1−c}·ζ_S^{c₂−g}·Σ_s W_{g,s}                  (each segment's own end state, scaled, ζ_S = ζ^S)
 *   Z_g      = ζ_S^{g−1−c₂}·Σ_{g'<g} F_{g'}                      (state entering segment g)
 *   X_{g,s}  = ζ^{s−1−c}·(ζ^{c+1}·Z_g + Σ_{s'<s} W_{g,s'})       (an exclusive CumSum within the segment)
 *
 * A mode whose decay per block (or per segment) exceeds what the tables can span has its decay rate clamped
 * to at least e^{−25} per step of that level (RHO_MIN): only terms already below e^{−25} of the state change.
 * S4D only: S4's transition (diagonal plus rank one) has real eigenvalues near 1 for the HiPPO
 * initialisations and no well-conditioned eigenbasis, so its carry cannot be split into independent modes
 * (S4 layers: chunked, fft or direct). Work per channel: the chunked MatMuls plus about 16 elementwise passes
 * over the nb·2M carried values, in float64.
 */
import { DTYPE, type GraphBuilder } from '../onnx-builder.js';
import { type LayerSsm } from '../layer-ssm.js';
import { blockMatrices, directionRows, joinRows, partsLayout, type BlockMatrices } from './conv-chunked.js';
import { blockNear, explicitBlock } from './block.js';
import type { ConvVariant, VariantOptions } from './variant.js';

/** Largest |exponent| (natural log) of a power table entry: products of two stay within float64. */
const SPAN = 300;
/** The same bound when the tables (and the carry) are kept in float32: sums stay below e^{~46}·|V|. */
const SPAN32 = 40;
/** A clamped decay still damps a step of its level by at least e^{−RHO_MIN}: negligible in float32. */
const RHO_MIN = 25;
/** Most blocks per segment and segments: (MAX_SEGMENT/2 + 1)·RHO_MIN ≤ SPAN, so clamps stay ≥ RHO_MIN. */
export const MAX_SEGMENT = Math.floor(2 * (SPAN / RHO_MIN - 1));
export const MAX_PREFIX_BLOCKS = MAX_SEGMENT * MAX_SEGMENT;

/**
 * Block length: `opts.block`, else about d_state (2M; at least 16), at least L/MAX_PREFIX_BLOCKS, preferring a
 * divisor of L. Larger than the chunked variant's: the carry here is elementwise work per block.
 */
export function prefixBlock(ssm: Pick<LayerSsm, 'M'>, L: number, opts: VariantOptions): number {
  if (opts.block !== undefined) return explicitBlock('prefix', opts.block, L, MAX_PREFIX_BLOCKS);
  return blockNear(L, Math.max(16, 2 * ssm.M), MAX_PREFIX_BLOCKS);
}

/** Segments: S blocks each (S ≤ MAX_SEGMENT), G of them (G ≤ MAX_SEGMENT), G·S ≥ nb. */
export function segments(nb: number): { S: number; G: number } {
  const G = Math.ceil(nb / MAX_SEGMENT);
  const S = Math.ceil(nb / G);
  return { S, G };
}

export const convPrefix: ConvVariant = {
  mode: 'conv',
  name: 'prefix',
  kinds: ['s4d'],
  summary:
    'blocks of T steps: Toeplitz MatMul within a block, the state carried across blocks by a two-level scaled CumSum (node count independent of L)',
  describe: (ssm, L, opts): Record<string, number> => {
    const T = prefixBlock(ssm, L, opts);
    const nb = Math.ceil(L / T);
    if (nb === 1) return { block: T, blocks: 1 };
    const { S, G } = segments(nb);
    return { block: T, blocks: G * S, segment: S, segments: G };
  },
  build(b: GraphBuilder, u: string, ssm: LayerSsm, L: number, opts: VariantOptions): string {
    const Ha = ssm.active.length;
    const M = ssm.M;
    const T = prefixBlock(ssm, L, opts);
    // Blocks: G segments of S (nb ≤ G·S < nb + G); the input is padded to whole segments.
    const nb0 = Math.ceil(L / T);
    const nb = nb0 > 1 ? segments(nb0).G * segments(nb0).S : 1;
    const Lp = nb * T;
    const R = ssm.dirs * Ha;
    const m = blockMatrices(ssm, T);

    let x = directionRows(b, u, ssm, L);
    // Pad and Slice even when L = nb·T: the node count is the same for every L. The input is padded to
    // whole segments of blocks (at most G − 1 blocks of zeros), so the carry needs no padding of its own.
    x = b.op('Pad', [x, b.constI64([0, 0, 0, 0, 0, Lp - L])]);
    // [batch, 1, rows, nb, T]: the carried state's real and imaginary parts come on axis 1.
    const U5 = b.op('Reshape', [x, b.constI64([0, 1, R, nb, T])]);
    const own = b.op('MatMul', [U5, b.initF32('prefix_toeplitz', m.toeplitz, [R, T, T])]);
    b.work(R * 2 * nb * T * T);
    let Y = own;
    if (nb > 1) {
      const { inParts, outParts } = partsLayout(m, R, M, T);
      const V = b.op('MatMul', [U5, b.initF32('prefix_input_to_state', inParts, [2, R, T, M])]);
      b.work(R * 2 * nb * T * 2 * M);
      const X = carry(b, V, m, R, M, nb);
      const parts = b.op('MatMul', [X, b.initF32('prefix_readout', outParts, [2, R, M, T])]);
      b.work(R * 2 * nb * 2 * M * T);
      const [re, im] = b.node('Split', [parts, b.constI64([1, 1])], { axis: 1 }, 2) as [string, string];
      Y = b.op('Sum', [own, re, im]);
      b.work(2 * R * Lp);
    }
    return joinRows(b, Y, ssm, L, Lp, true);
  },
};

/**
 * The carry: V [batch, 2, R, nb, M] (block inputs-to-state, real and imaginary parts) → X, same shape, the
 * state entering each block (X_0 = 0). Float64 inside.
 */
function carry(b: GraphBuilder, V: string, m: BlockMatrices, R: number, M: number, nb: number): string {
  const { S, G } = segments(nb);
  if (G * S !== nb) throw new Error(`prefix carry: ${nb} blocks are not ${G} segments of ${S}`);
  const c = Math.floor((S - 1) / 2);
  const c2 = Math.floor((G - 1) / 2);
  const diag = m.diag!;
  // Per (row, mode): log-magnitude per block (clamped) and phase; the same per segment.
  const n = R * M;
  const rho1 = new Float64Array(n);
  const th1 = new Float64Array(n);
  const rho2 = new Float64Array(n);
  const max1 = SPAN / (S / 2 + 1);
  const max2 = SPAN / (G / 2 + 1);
  for (let i = 0; i < n; i++) {
    const re = diag.re[i]!,
      im = diag.im[i]!;
    const mag = Math.hypot(re, im);
    rho1[i] = Math.min(mag > 0 ? -Math.log(mag) : Infinity, max1);
    th1[i] = Math.atan2(im, re);
    rho2[i] = Math.min(S * rho1[i]!, max2);
  }
  let maxLog = 0;
  /** Table [2, R, A, B, M] of ζ^{e1(a, b)}·ζ_S^{e2(a, b)} as (E1, E2) for the complex product (see cmul). */
  const table = (
    name: string,
    A: number,
    B: number,
    e1: (a: number, k: number) => number,
    e2: (a: number, k: number) => number,
  ) => {
    const t1 = new Float64Array(2 * R * A * B * M);
    const t2 = new Float64Array(2 * R * A * B * M);
    for (let r = 0; r < R; r++) {
      for (let a = 0; a < A; a++) {
        for (let k = 0; k < B; k++) {
          const p1 = e1(a, k),
            p2 = e2(a, k);
          for (let mm = 0; mm < M; mm++) {
            const i = r * M + mm;
            const logMag = -rho1[i]! * p1 - rho2[i]! * p2;
            maxLog = Math.max(maxLog, Math.abs(logMag));
            const ph = th1[i]! * (p1 + S * p2);
            const mag = Math.exp(logMag);
            const cr = mag * Math.cos(ph),
              ci = mag * Math.sin(ph);
            for (let part = 0; part < 2; part++) {
              const o = (((part * R + r) * A + a) * B + k) * M + mm;
              t1[o] = cr;
              t2[o] = part === 0 ? -ci : ci;
            }
          }
        }
      }
    }
    return { name, t1, t2, dims: [2, R, A, B, M] };
  };
  const tables = [
    table(
      'prefix_scale_in',
      1,
      S,
      (_, s) => c - s,
      () => 0,
    ),
    table(
      'prefix_segment_in',
      G,
      1,
      () => S - 1 - c,
      (g) => c2 - g,
    ),
    table(
      'prefix_segment_out',
      G,
      1,
      () => c + 1,
      (g) => g - 1 - c2,
    ),
    table(
      'prefix_scale_out',
      1,
      S,
      (_, s) => s - 1 - c,
      () => 0,
    ),
  ];
  // Float32 when every table entry stays within e^{±SPAN32} (the scaled sums then within float32's e^{±88});
  // the usual case for blocks of about d_state steps at moderate L. Else float64.
  const narrow = maxLog <= SPAN32;
  const [scaleIn, segmentIn, segmentOut, scaleOut] = tables.map(
    ({ name, t1, t2, dims }) =>
      (narrow
        ? [b.initF32(`${name}_re`, t1, dims), b.initF32(`${name}_im`, t2, dims)]
        : [b.initF64(`${name}_re`, t1, dims), b.initF64(`${name}_im`, t2, dims)]) as [string, string],
  );
  const swap = b.constI64([1, 0]);
  /** Complex product with a table, parts on axis 1: x⊙E1 + swap(x)⊙E2, E1 = [Re; Re], E2 = [−Im; Im]. */
  const cmul = (xv: string, [E1, E2]: readonly [string, string], size: number) => {
    b.work(3 * size);
    return b.op('Add', [b.op('Mul', [xv, E1]), b.op('Mul', [b.op('Gather', [xv, swap], { axis: 1 }), E2])]);
  };
  const blocks = 2 * R * G * S * M;
  const segs = 2 * R * G * M;
  // (In float32 both Casts are no-ops, which onnxruntime removes; they stay so that the node count is the same.)
  const v = b.op('Cast', [V], { to: narrow ? DTYPE.float32 : DTYPE.float64 });
  const V6 = b.op('Reshape', [v, b.constI64([0, 2, R, G, S, M])]);
  const W = cmul(V6, scaleIn!, blocks);
  const total = b.op('ReduceSum', [W, b.constI64([4])], { keepdims: 1 });
  b.work(blocks - segs);
  const F = cmul(total, segmentIn!, segs);
  const Z = b.op('CumSum', [F, b.constI64([3], [])], { exclusive: 1 });
  b.work(segs);
  const Zs = cmul(Z, segmentOut!, segs);
  // Within each segment: the exclusive prefix sum of W, plus the incoming state (broadcast over the segment).
  const C = b.op('Add', [b.op('CumSum', [W, b.constI64([4], [])], { exclusive: 1 }), Zs]);
  b.work(2 * blocks);
  const X = cmul(C, scaleOut!, blocks);
  const x = b.op('Reshape', [X, b.constI64([0, 2, R, nb, M])]);
  return b.op('Cast', [x], { to: DTYPE.float32 });
}
