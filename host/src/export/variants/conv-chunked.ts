/**
 * Chunked variant: the sequence is cut into nb blocks of T steps. Within a block the causal convolution is
 * a T×T Toeplitz matrix product per channel; across blocks the SSM state carries the past (each channel's
 * real state s ∈ R^{2M}, s_k = A s_{k−1} + B u_k, y_k = C s_k, K[l] = C A^l B):
 *
 *   V_j     = Σ_s u[jT+s]·(A^{T−1−s} B)ᵀ                    (block input → state; a MatMul)
 *   X_{j+1} = X_j·(A^T)ᵀ + V_j,  X_0 = 0                     (state entering block j+1; a short scan)
 *   y[jT+t] = Σ_{s≤t} K[t−s]·u[jT+s] + X_j·(C A^{t+1})ᵀ     (Toeplitz part + state read-out)
 *
 * All matrices are computed in float64 from the layer's step form and stored as float32. The backward
 * kernel of a bidirectional layer is a causal convolution of the time-reversed input with the kernel
 * shifted by one (k̃[0] = 0, k̃[m] = k_b[m−1] = C_b A^{m−1} B), so its rows ride in the same MatMuls with
 * read-out C_b A^t. Work per channel ≈ 2L·(T + 4M) flops plus the scan (elementwise for S4D, 8M² per block
 * for S4's dense A^T), against 2L² for the direct form.
 */
import type { GraphBuilder } from '../onnx-builder.js';
import { freeStep, inputColumn, readout, type LayerSsm } from '../layer-ssm.js';
import { explicitBlock, nearDivisor } from './block.js';
import type { ConvVariant, VariantOptions } from './variant.js';

/** Most blocks a layer is cut into by default: each block boundary is a few scan nodes. */
export const MAX_BLOCKS = 128;

/**
 * Shortest default block (S4D). Measured on onnxruntime-node 1.30 (x64, 1 thread, interleaved), S4D d_state 64,
 * block 28 against the M-sized block (14 or 16) with states pruned to M = 16, 10, 8, 3: 0.90–0.95 of the time
 * at L = 196 (d_model 32 and 64) and 0.90–0.91 at L = 784 (d_model 64); 28 is what M = 32 gets at both
 * lengths. Below it the scan's nodes per block cost more than the Toeplitz work saved.
 */
export const MIN_BLOCK = 24;

/**
 * Block length: `opts.block`, else about M (d_state/2, or the most modes a channel keeps with states pruned)
 * and at least MIN_BLOCK — for S4, whose scan step is a dense 2M×2M MatMul, 2M and at least 16 — and at
 * least L/MAX_BLOCKS, preferring a divisor of L. Smaller blocks mean less Toeplitz work and smaller weights
 * (T² + 4MT floats per channel: at batch 1 the SSM weights are streamed from memory once per sequence) but
 * more scan steps.
 */
export function chunkBlock(ssm: Pick<LayerSsm, 'M' | 'steps'>, L: number, opts: VariantOptions): number {
  if (opts.block !== undefined) return explicitBlock('chunked', opts.block, L);
  const least = Math.ceil(L / MAX_BLOCKS);
  const dense = ssm.steps.some((st) => st.lowRank);
  const target = dense ? Math.max(16, 2 * ssm.M, least) : Math.max(MIN_BLOCK, ssm.M, least);
  return nearDivisor(L, target, Math.max(least, Math.ceil(target / 2)), 2 * target);
}

export const convChunked: ConvVariant = {
  mode: 'conv',
  name: 'chunked',
  legacy: 'the block-to-block state scan is unrolled: about 4 nodes per block, and up to MAX_BLOCKS blocks',
  summary: 'blocks of T steps: Toeplitz MatMul within a block, SSM state carried across blocks',
  describe: (ssm, L, opts) => {
    const T = chunkBlock(ssm, L, opts);
    return { block: T, blocks: Math.ceil(L / T) };
  },
  build(b: GraphBuilder, u: string, ssm: LayerSsm, L: number, opts: VariantOptions): string {
    const Ha = ssm.active.length;
    const S = 2 * ssm.M;
    const T = chunkBlock(ssm, L, opts);
    const nb = Math.ceil(L / T);
    const Lp = nb * T;
    const R = ssm.dirs * Ha;
    const m = blockMatrices(ssm, T);

    let x = directionRows(b, u, ssm, L);
    if (Lp > L) x = b.op('Pad', [x, b.constI64([0, 0, 0, 0, 0, Lp - L])]);
    const U = b.op('Reshape', [x, b.constI64([0, R, nb, T])]);
    const toeplitz = b.initF32('chunk_toeplitz', m.toeplitz, [R, T, T]);
    let Y: string;
    if (nb > 1 && m.diag) {
      // [batch, 1, rows, nb, T]: the carried state's real and imaginary parts come on that axis (diagonalCarry).
      const U5 = b.op('Unsqueeze', [U, b.constI64([1])]);
      const own = b.op('MatMul', [U5, toeplitz]);
      const [re, im] = diagonalCarry(b, U5, m, R, ssm.M, T, nb);
      Y = b.op('Sum', [own, re, im]);
      b.work(R * 2 * nb * T * T + 2 * R * Lp);
    } else {
      Y = b.op('MatMul', [U, toeplitz]);
      b.work(R * 2 * nb * T * T);
      if (nb > 1) {
        Y = b.op('Add', [Y, denseCarry(b, U, m, R, S, T, nb)]);
        b.work(R * Lp);
      }
    }
    return joinRows(b, Y, ssm, L, Lp);
  },
};

/** A layer's rows: its active channels, then (bidirectional) the same channels time-reversed; [batch, R, L]. */
export function directionRows(b: GraphBuilder, u: string, ssm: LayerSsm, L: number): string {
  return ssm.dirs === 2 ? b.op('Concat', [u, reverseTime(b, u, L)], { axis: 1 }) : u;
}

/**
 * The rows' outputs (R·Lp values per batch element, in row order) → [batch, active, L]: flattened, the padding
 * past L sliced off (always with `slice`, so that the node count does not depend on L), and a bidirectional
 * layer's backward rows turned back in time and added to the forward ones.
 */
export function joinRows(b: GraphBuilder, Y: string, ssm: LayerSsm, L: number, Lp: number, slice = false): string {
  const Ha = ssm.active.length;
  let y = b.op('Reshape', [Y, b.constI64([0, ssm.dirs * Ha, Lp])]);
  if (slice || Lp > L) y = b.op('Slice', [y, b.constI64([0]), b.constI64([L]), b.constI64([2])]);
  if (ssm.dirs === 1) return y;
  const [yf, yb] = b.node('Split', [y, b.constI64([Ha, Ha])], { axis: 1 }, 2) as [string, string];
  b.work(Ha * L);
  return b.op('Add', [yf, reverseTime(b, yb, L)]);
}

/**
 * Read-out of the carried state with a dense transition (S4: A^T has no structure): input-to-state
 * MatMul, scan X_{j+1} = X_j·(A^T)ᵀ + V_j over the blocks (one small MatMul per block), read-out MatMul.
 */
function denseCarry(b: GraphBuilder, U: string, m: BlockMatrices, R: number, S: number, T: number, nb: number): string {
  const V = b.op('MatMul', [U, b.initF32('chunk_input_to_state', m.inputToState, [R, T, S])]);
  b.work(R * 2 * nb * T * S);
  const Vj = b.node('Split', [V, b.constI64(Array<number>(nb).fill(1))], { axis: 2 }, nb);
  const X = [b.op('Mul', [Vj[0]!, b.constF32([0])]), Vj[0]!];
  const P = nb > 2 ? b.initF32('chunk_state_transition', m.p, [R, S, S]) : '';
  for (let j = 1; j < nb - 1; j++) X.push(b.op('Add', [b.op('MatMul', [X[j]!, P]), Vj[j]!]));
  b.work(R * S + R * (nb - 2) * (2 * S * S + S));
  const out = b.op('MatMul', [b.op('Concat', X, { axis: 2 }), b.initF32('chunk_readout', m.out, [R, S, T])]);
  b.work(R * 2 * nb * S * T);
  return out;
}

/**
 * The same with a diagonal transition (S4D): each mode's state is multiplied by ζ = z^T per block. The
 * state's real and imaginary parts sit on their own axis, [batch, 2, rows, nb, M] (U5 is [batch, 1, rows,
 * nb, T]), so that ζ·X is E₁⊙X + E₂⊙swap(X) with E₁ = [Re ζ; Re ζ], E₂ = [−Im ζ; Im ζ], where swap(X), a
 * Gather of the two parts, copies two contiguous runs instead of 2·rows short ones; input-to-state and
 * read-out become M-wide MatMuls per part. Measured on onnxruntime-node 1.30 (x64, 1 thread, the benchmark
 * model): about 2 % less CPU time per sequence than [rows, nb, 2M] with the parts interleaved per row.
 * Returns the two parts' read-outs, [batch, 1, rows, nb, T] each, for the caller to add in one Sum
 * (a ReduceSum over the parts' axis measured several times slower).
 */
function diagonalCarry(
  b: GraphBuilder,
  U5: string,
  m: BlockMatrices,
  R: number,
  M: number,
  T: number,
  nb: number,
): [string, string] {
  const S = 2 * M;
  const diag = m.diag!;
  const { inParts, outParts } = partsLayout(m, R, M, T);
  const e1 = new Float64Array(2 * R * M);
  const e2 = new Float64Array(2 * R * M);
  for (let c = 0; c < 2; c++) {
    for (let r = 0; r < R; r++) {
      for (let k = 0; k < M; k++) {
        e1[(c * R + r) * M + k] = diag.re[r * M + k]!;
        e2[(c * R + r) * M + k] = (c === 0 ? -1 : 1) * diag.im[r * M + k]!;
      }
    }
  }
  const V = b.op('MatMul', [U5, b.initF32('chunk_input_to_state', inParts, [2, R, T, M])]);
  b.work(R * 2 * nb * T * S);
  // States entering blocks 0 … nb−1 (block 0: zero), stacked for one read-out MatMul per part.
  const Vj = b.node('Split', [V, b.constI64(Array<number>(nb).fill(1))], { axis: 3 }, nb);
  // The decay tables exist only when the scan has a step (nb > 2): an initializer no node reads makes
  // onnxruntime warn and drop it.
  const X = [b.op('Mul', [Vj[0]!, b.constF32([0])]), Vj[0]!];
  const [E1, E2, swap] =
    nb > 2
      ? [
          b.initF32('chunk_state_decay_re', e1, [2, R, 1, M]),
          b.initF32('chunk_state_decay_im', e2, [2, R, 1, M]),
          b.constI64([1, 0]),
        ]
      : ['', '', ''];
  for (let j = 1; j < nb - 1; j++) {
    const prev = X[j]!;
    X.push(
      b.op('Sum', [b.op('Mul', [prev, E1]), b.op('Mul', [b.op('Gather', [prev, swap], { axis: 1 }), E2]), Vj[j]!]),
    );
  }
  b.work(R * S + R * (nb - 2) * 8 * M);
  const parts = b.op('MatMul', [b.op('Concat', X, { axis: 3 }), b.initF32('chunk_readout', outParts, [2, R, M, T])]);
  b.work(R * 2 * nb * S * T);
  return b.node('Split', [parts, b.constI64([1, 1])], { axis: 1 }, 2) as [string, string];
}

export function reverseTime(b: GraphBuilder, x: string, L: number): string {
  return b.op('Slice', [x, b.constI64([-1]), b.constI64([-(L + 1)]), b.constI64([2]), b.constI64([-1])]);
}

/**
 * Per row r (dirs·active rows): the Toeplitz and input-to-state matrices, p [2M, 2M] = (A^T)ᵀ,
 * out [2M, T] = read-out of the carried state.
 */
/**
 * Input-to-state and read-out with the state's real and imaginary parts on their own leading axis:
 * inParts [2, R, T, M], outParts [2, R, M, T].
 */
export function partsLayout(
  m: BlockMatrices,
  R: number,
  M: number,
  T: number,
): { inParts: Float64Array; outParts: Float64Array } {
  const S = 2 * M;
  const inParts = new Float64Array(2 * R * T * M);
  const outParts = new Float64Array(2 * R * M * T);
  for (let c = 0; c < 2; c++) {
    for (let r = 0; r < R; r++) {
      for (let i = 0; i < T; i++) {
        for (let k = 0; k < M; k++)
          inParts[((c * R + r) * T + i) * M + k] = m.inputToState[(r * T + i) * S + c * M + k]!;
      }
      for (let k = 0; k < M; k++) {
        for (let t = 0; t < T; t++) outParts[((c * R + r) * M + k) * T + t] = m.out[(r * S + c * M + k) * T + t]!;
      }
    }
  }
  return { inParts, outParts };
}

export interface BlockMatrices {
  /** [rows, T, T]: row s, column t holds K[t − s]. */
  toeplitz: Float64Array;
  /** [rows, T, 2M]: row s holds (A^{T−1−s} B)ᵀ. */
  inputToState: Float64Array;
  p: Float64Array;
  out: Float64Array;
  /** S4D: the per-block decay ζ = z^T of every mode, [rows, M] (p is then block-diagonal). */
  diag?: { re: Float64Array; im: Float64Array };
}

export function blockMatrices(ssm: LayerSsm, T: number): BlockMatrices {
  const Ha = ssm.active.length;
  const S = 2 * ssm.M;
  const R = ssm.dirs * Ha;
  const K = ssm.kernel(T);
  const toeplitz = new Float64Array(R * T * T);
  const inputToState = new Float64Array(R * T * S);
  const p = new Float64Array(R * S * S);
  const out = new Float64Array(R * S * T);
  let s = new Float64Array(S);
  let next = new Float64Array(S);
  for (let c = 0; c < Ha; c++) {
    const st = ssm.steps[c]!;
    const C = Array.from({ length: ssm.dirs }, (_, d) => readout(st, d));
    // Input-to-state: A^j B for j = 0 … T−1 sits in row s = T−1−j.
    s.set(inputColumn(st));
    for (let j = 0; j < T; j++) {
      for (let d = 0; d < ssm.dirs; d++) inputToState.set(s, ((d * Ha + c) * T + (T - 1 - j)) * S);
      freeStep(st, s, next);
      [s, next] = [next, s];
    }
    // Trajectory of every basis state e_k: A^t e_k for t = 0 … T gives read-outs and the transition.
    for (let k = 0; k < S; k++) {
      s.fill(0);
      s[k] = 1;
      for (let t = 0; t <= T; t++) {
        for (let d = 0; d < ssm.dirs; d++) {
          const r = d * Ha + c;
          // Forward read-out C A^{t+1}; backward (shifted kernel) C_b A^t.
          const tOut = d === 0 ? t - 1 : t;
          if (tOut >= 0 && tOut < T) out[(r * S + k) * T + tOut] = dot(C[d]!, s);
          if (t === T) p.set(s, (r * S + k) * S);
        }
        freeStep(st, s, next);
        [s, next] = [next, s];
      }
    }
    // Toeplitz: row s, column t holds K[t − s] (forward, + D on the diagonal) or k̃[t − s] (backward).
    for (let d = 0; d < ssm.dirs; d++) {
      const r = d * Ha + c;
      const krow = (d * Ha + c) * T;
      for (let i = 0; i < T; i++) {
        for (let t = i; t < T; t++) {
          const lag = t - i;
          const v = d === 0 ? K[krow + lag]! + (lag === 0 ? ssm.D[c]! : 0) : lag === 0 ? 0 : K[krow + lag - 1]!;
          toeplitz[(r * T + i) * T + t] = v;
        }
      }
    }
  }
  if (ssm.steps.some((st) => st.lowRank)) return { toeplitz, inputToState, p, out };
  // Diagonal steps: ζ = z^T, read off the transition (p row m is A^T applied to the real unit of mode m).
  const M = ssm.M;
  const diag = { re: new Float64Array(R * M), im: new Float64Array(R * M) };
  for (let r = 0; r < R; r++) {
    for (let k = 0; k < M; k++) {
      diag.re[r * M + k] = p[(r * S + k) * S + k]!;
      diag.im[r * M + k] = p[(r * S + k) * S + M + k]!;
    }
  }
  return { toeplitz, inputToState, p, out, diag };
}

function dot(a: Float64Array, b: Float64Array): number {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i]! * b[i]!;
  return acc;
}
