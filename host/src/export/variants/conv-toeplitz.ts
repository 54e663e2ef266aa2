/**
 * Toeplitz variant: the layer's causal convolution as the full Toeplitz product, cut into blocks of T steps so
 * that each channel's product is one MatMul with its weights reused by every block. Output block j of a row
 * sums the contributions of its input block and every earlier one:
 *
 *   y_j = Σ_{d=0}^{j} u_{j−d}·K_d,    K_d[s, t] = k[dT + t − s]  (0 for a negative lag; D added at lag 0)
 *
 * so stacking [u_j, u_{j−1}, …, u_{j−nb+1}] (blocks before the first are zeros) as row j of an [nb, nb·T]
 * matrix makes the layer one MatMul by [K_0; K_1; …; K_{nb−1}] ([nb·T, T]) per row. One Pad (the nb − 1 zero
 * blocks in front), one Gather (the stacking, an index table over the blocks) and one MatMul: a layer is 7
 * nodes with the reshapes and the final slice, whatever L, the modes or the rows, against chunked's 4 per
 * block. The price is the direct form's work, 2·Lp² flops per row (half of it on the zero blocks), whatever
 * the modes, and Lp·T weights per row:
 * it pays where the graph, not the arithmetic, sets the time — few rows or many modes at short L. Measured
 * on onnxruntime-node 1.30 (x64, 1 thread, interleaved, L 196, T 28) against chunked: d_model 64 with 32
 * modes 0.92, with 26 modes 1.00, with 13 modes 1.11 (and scan ahead of both); d_model 32 with 16 modes 1.04
 * at full width, 0.88 with 70 % of operators pruned. Past MAX_TOEPLITZ_LENGTH the work and weights grow out of
 * proportion, and the variant refuses.
 *
 * The backward kernel of a bidirectional layer rides as in the chunked variant: its rows see the
 * time-reversed input with the kernel shifted by one (k̃[0] = 0, k̃[m] = k_b[m−1]).
 */
import type { GraphBuilder } from '../onnx-builder.js';
import type { LayerSsm } from '../layer-ssm.js';
import { blockNear, explicitBlock } from './block.js';
import { directionRows, joinRows } from './conv-chunked.js';
import type { ConvVariant, VariantOptions } from './variant.js';

/** Longest L exported: Lp² flops and Lp·T weights per row. */
export const MAX_TOEPLITZ_LENGTH = 512;
/** Most blocks: the stacked input holds nb·Lp values per row. */
export const MAX_TOEPLITZ_BLOCKS = 32;
/** Default block: the measured best at L 196 (14, 28 and 49 within noise; 28 keeps the weights moderate). */
const TOEPLITZ_BLOCK = 28;

/** Block length: `opts.block`, else about TOEPLITZ_BLOCK and at least L / MAX_TOEPLITZ_BLOCKS, preferring a divisor of L. */
export function toeplitzBlock(L: number, opts: VariantOptions): number {
  if (opts.block !== undefined) return explicitBlock('toeplitz', opts.block, L, MAX_TOEPLITZ_BLOCKS);
  return blockNear(L, TOEPLITZ_BLOCK, MAX_TOEPLITZ_BLOCKS);
}

export const convToeplitz: ConvVariant = {
  mode: 'conv',
  name: 'toeplitz',
  maxLength: MAX_TOEPLITZ_LENGTH,
  summary: 'the full Toeplitz product in blocks: one MatMul per channel over each block and the blocks before it',
  describe: (_ssm, L, opts) => {
    const T = toeplitzBlock(L, opts);
    return { block: T, blocks: Math.ceil(L / T) };
  },
  build(b: GraphBuilder, u: string, ssm: LayerSsm, L: number, opts: VariantOptions): string {
    const Ha = ssm.active.length;
    const T = toeplitzBlock(L, opts);
    const nb = Math.ceil(L / T);
    const Lp = nb * T;
    const R = ssm.dirs * Ha;
    const k = ssm.kernel(Lp);
    // Row r's weights [nb·T, T]: row dT + s, column t holds the tap of lag dT + t − s.
    const w = new Float64Array(R * Lp * T);
    for (let d = 0; d < ssm.dirs; d++) {
      for (let c = 0; c < Ha; c++) {
        const r = d * Ha + c;
        for (let i = 0; i < Lp; i++) {
          for (let t = 0; t < T; t++) {
            const lag = i - (i % T) + t - (i % T);
            if (lag < 0) continue;
            w[(r * Lp + i) * T + t] =
              d === 0 ? k[r * Lp + lag]! + (lag === 0 ? ssm.D[c]! : 0) : lag === 0 ? 0 : k[r * Lp + lag - 1]!;
          }
        }
      }
    }
    let x = directionRows(b, u, ssm, L);
    x = b.op('Pad', [x, b.constI64([0, 0, (nb - 1) * T, 0, 0, Lp - L])]);
    const U = b.op('Reshape', [x, b.constI64([0, R, 2 * nb - 1, T])]);
    // Row j takes blocks j, j − 1, …, j − nb + 1 of the input, at j − d + nb − 1 in the padded one.
    const stack: number[] = [];
    for (let j = 0; j < nb; j++) for (let d = 0; d < nb; d++) stack.push(j - d + nb - 1);
    const stacked = b.op('Reshape', [
      b.op('Gather', [U, b.constI64(stack, [nb, nb])], { axis: 2 }),
      b.constI64([0, R, nb, Lp]),
    ]);
    const Y = b.op('MatMul', [stacked, b.initF32('toeplitz_kernel', w, [R, Lp, T])]);
    b.work(R * 2 * nb * Lp * T);
    return joinRows(b, Y, ssm, L, Lp, true);
  },
};
