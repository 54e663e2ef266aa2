/**
 * Scan variant (S4D): the chunked decomposition (conv-chunked.ts: blocks of T steps, a T×T Toeplitz product
 * within a block, the SSM state carried across blocks) with the carry done as a scan in logarithmic depth
 * over the blocks (Hillis–Steele doubling), and the block-level MatMuls fused: a layer is about
 * 13 + 5·⌈log₂(nb − 1)⌉ nodes (nb blocks) and two batched products, one GEMM per row each (chunked: 4 nodes
 * per block and five GEMMs per row). It pays where the modes are few (states pruned, small d_state): measured
 * on onnxruntime-node 1.30 (x64, 1 thread, interleaved, block 28 both), S4D with 3–4 modes per channel kept
 * took 0.90–0.93 of chunked's time at L = 196 and 784, with 8 about the same (0.96 / 1.05), with 16 or more
 * longer (1.05–1.2; with 32 at L = 784, 1.4).
 *
 * Per channel and mode (z the mode's step, ζ = z^T its per-block decay, V_i block i's input-to-state):
 *
 *   X_j = Σ_{i<j} ζ^{j−1−i}·V_i                      (state entering block j; X_0 = 0)
 *
 * Start from X⁰_j = V_{j−1} (X⁰_0 = 0: the input is padded with one block of zeros in front, so its V is 0)
 * and apply, for d = 1, 2, 4, … < nb − 1,
 *
 *   X_j ← X_j + ζ^d·X_{j−d}   (j ≥ d; for j < d the term reads block 0, which is 0 and stays 0)
 *
 * after which X_j = Σ_{0≤δ<2^K} ζ^δ·X⁰_{j−δ}: exact, and only powers |ζ^d| ≤ 1 appear, so nothing
 * overflows whatever the decay (unlike the prefix variant's scaled sums). The Toeplitz block and the
 * input-to-state map share their input, so they are one MatMul [T, T + 2M] per row; the carried states'
 * real and imaginary parts sit side by side in the read-out's contraction, which sums them. The scan runs on
 * [batch, 2, nb, rows, M] (parts, blocks, rows, modes): the swap of the parts and the shift over blocks are
 * Gathers of whole contiguous slabs, and the per-mode powers broadcast over blocks in runs of rows·M. Measured
 * on onnxruntime-node 1.30 (x64, 1 thread): a Gather or broadcast along an inner axis of short runs (parts
 * next to the modes) costs several times more per element.
 *
 * Work per channel ≈ 2(L + T)·(T + 2M) + 4L·M + 8·(L/T)·M·K; node count grows with log₂ of the block count
 * (at most MAX_SCAN_LEVELS levels: the block length grows past L / 2^MAX_SCAN_LEVELS).
 */
import type { GraphBuilder } from '../onnx-builder.js';
import type { LayerSsm } from '../layer-ssm.js';
import { blockNear, explicitBlock } from './block.js';
import { blockMatrices, directionRows, joinRows, MIN_BLOCK, type BlockMatrices } from './conv-chunked.js';
import type { ConvVariant, VariantOptions } from './variant.js';

/** Most doubling levels: up to 2^7 + 1 blocks. */
export const MAX_SCAN_LEVELS = 7;
const MAX_SCAN_BLOCKS = 2 ** MAX_SCAN_LEVELS + 1;

/** Doubling levels for nb blocks: 2^K ≥ nb − 1 (the largest lag between a block and a state it reads). */
export function scanLevels(nb: number): number {
  return nb <= 2 ? 0 : Math.ceil(Math.log2(nb - 1));
}

/**
 * Block length: `opts.block`, else MIN_BLOCK (as the chunked variant's shortest: at these sizes the measured
 * best whatever the modes) and at least L / MAX_SCAN_BLOCKS, preferring a divisor of L.
 */
export function scanBlock(L: number, opts: VariantOptions): number {
  if (opts.block !== undefined) return explicitBlock('scan', opts.block, L, MAX_SCAN_BLOCKS);
  return blockNear(L, MIN_BLOCK, MAX_SCAN_BLOCKS);
}

export const convScan: ConvVariant = {
  mode: 'conv',
  name: 'scan',
  kinds: ['s4d'],
  logBlocks: { nodesPerLevel: 5, maxLevels: MAX_SCAN_LEVELS },
  summary:
    'blocks of T steps: Toeplitz and input-to-state in one MatMul, the state carried across blocks by a scan in log depth',
  describe: (_ssm, L, opts) => {
    const T = scanBlock(L, opts);
    const nb = Math.ceil(L / T);
    return { block: T, blocks: nb, levels: scanLevels(nb) };
  },
  build(b: GraphBuilder, u: string, ssm: LayerSsm, L: number, opts: VariantOptions): string {
    const Ha = ssm.active.length;
    const M = ssm.M;
    const S = 2 * M;
    const T = scanBlock(L, opts);
    const nb = Math.ceil(L / T);
    const Lp = nb * T;
    const R = ssm.dirs * Ha;
    const m = blockMatrices(ssm, T);

    let x = directionRows(b, u, ssm, L);
    if (nb === 1) {
      const U = b.op('Reshape', [x, b.constI64([0, R, 1, T])]);
      const Y = b.op('MatMul', [U, b.initF32('scan_toeplitz', m.toeplitz, [R, T, T])]);
      b.work(R * 2 * T * T);
      return joinRows(b, Y, ssm, L, Lp);
    }
    // One block of zeros in front: its input-to-state is the (zero) state entering block 0.
    x = b.op('Pad', [x, b.constI64([0, 0, T, 0, 0, Lp - L])]);
    const U = b.op('Reshape', [x, b.constI64([0, R, nb + 1, T])]);
    const w = new Float64Array(R * T * (T + S));
    for (let r = 0; r < R; r++) {
      for (let s = 0; s < T; s++) {
        const row = (r * T + s) * (T + S);
        for (let t = 0; t < T; t++) w[row + t] = m.toeplitz[(r * T + s) * T + t]!;
        for (let k = 0; k < S; k++) w[row + T + k] = m.inputToState[(r * T + s) * S + k]!;
      }
    }
    const Z = b.op('MatMul', [U, b.initF32('scan_block_in', w, [R, T, T + S])]);
    b.work(R * 2 * (nb + 1) * T * (T + S));
    const own = b.op('Slice', [Z, b.constI64([1, 0]), b.constI64([nb + 1, T]), b.constI64([2, 3])]);
    const V = b.op('Slice', [Z, b.constI64([0, T]), b.constI64([nb, T + S]), b.constI64([2, 3])]);
    // [batch, 2, nb, R, M]: X⁰_j = V_{j−1}, the parts outermost (see the header).
    const perm = [0, 3, 2, 1, 4];
    let X = b.op('Transpose', [b.op('Reshape', [V, b.constI64([0, R, nb, 2, M])])], { perm });
    X = scan(b, X, m, R, M, nb);
    const Xr = b.op('Reshape', [b.op('Transpose', [X], { perm }), b.constI64([0, R, nb, S])]);
    const carried = b.op('MatMul', [Xr, b.initF32('scan_readout', m.out, [R, S, T])]);
    b.work(R * 2 * nb * S * T);
    const Y = b.op('Add', [own, carried]);
    b.work(R * Lp);
    return joinRows(b, Y, ssm, L, Lp);
  },
};

/** The doubling levels on X [batch, 2, nb, R, M] (parts, blocks, rows, modes). */
function scan(b: GraphBuilder, X: string, m: BlockMatrices, R: number, M: number, nb: number): string {
  const S = 2 * M;
  const swap = b.constI64([1, 0]);
  const K = scanLevels(nb);
  for (let level = 0; level < K; level++) {
    const d = 2 ** level;
    const { e1, e2 } = decayPowers(m.diag!, R, M, d);
    const from = b.constI64(Array.from({ length: nb }, (_, j) => (j >= d ? j - d : 0)));
    const shifted = b.op('Gather', [X, from], { axis: 2 });
    const swapped = b.op('Gather', [shifted, swap], { axis: 1 });
    X = b.op('Sum', [
      X,
      b.op('Mul', [shifted, b.initF32('scan_decay_re', e1, [2, 1, R, M])]),
      b.op('Mul', [swapped, b.initF32('scan_decay_im', e2, [2, 1, R, M])]),
    ]);
    b.work(4 * nb * R * S);
  }
  return X;
}

/**
 * ζ^d per row and mode as the two factors of a complex product with the parts on their own axis:
 * ζ^d·x = E₁⊙x + E₂⊙swap(x), E₁ = [Re; Re], E₂ = [−Im; Im], each [2, R, M]. Powers in float64.
 */
function decayPowers(
  diag: { re: Float64Array; im: Float64Array },
  R: number,
  M: number,
  d: number,
): { e1: Float64Array; e2: Float64Array } {
  const e1 = new Float64Array(R * 2 * M);
  const e2 = new Float64Array(R * 2 * M);
  for (let r = 0; r < R; r++) {
    for (let k = 0; k < M; k++) {
      const mag = Math.hypot(diag.re[r * M + k]!, diag.im[r * M + k]!);
      const ph = Math.atan2(diag.im[r * M + k]!, diag.re[r * M + k]!);
      const pm = mag ** d;
      const re = pm * Math.cos(d * ph);
      const im = pm * Math.sin(d * ph);
      e1[r * M + k] = re;
      e1[(R + r) * M + k] = re;
      e2[r * M + k] = -im;
      e2[(R + r) * M + k] = im;
    }
  }
  return { e1, e2 };
}
