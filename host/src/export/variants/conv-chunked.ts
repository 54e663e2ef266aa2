/**
 * Chunked variant: the sequence is cut into nb blocks of T steps. Within a block the causal convolution is
 * a T×T Toeplitz matrix product per channel; across blocks the SSM state carries the past (each channel's
 * real state s ∈ R^{2M}, s_k = A s_{k−1} + B u_k, y_k = C s_k, K[l] = C A^l B):
 *
 *   V_j     = Σ_s u[jT+s]·(A^{T−1−s} B)ᵀ                    (block input → state; one MatMul with the Toeplitz)
 *   X_{j+1} = X_j·(A^T)ᵀ + V_j,  X_0 = 0                     (state entering block j+1; a short scan)
 *   y[jT+t] = Σ_{s≤t} K[t−s]·u[jT+s] + X_j·(C A^{t+1})ᵀ     (Toeplitz part + state read-out)
 *
 * All matrices are computed in float64 from the layer's step form and stored as float32. The backward
 * kernel of a bidirectional layer is a causal convolution of the time-reversed input with the kernel
 * shifted by one (k̃[0] = 0, k̃[m] = k_b[m−1] = C_b A^{m−1} B), so its rows ride in the same MatMuls with
 * read-out C_b A^t. Work per channel ≈ 2L·(T + 4M) + 8M²·L/T flops, against L² for the direct form.
 */
import type { GraphBuilder } from '../onnx-builder.js';
import { freeStep, inputColumn, readout, type LayerSsm } from '../layer-ssm.js';
import type { ConvVariant, VariantOptions } from './variant.js';

/** Block length: `opts.block`, else about 2M (balances Toeplitz and state work), spread evenly over L. */
export function chunkBlock(ssm: Pick<LayerSsm, 'M'>, L: number, opts: VariantOptions): number {
  if (opts.block !== undefined) {
    if (!Number.isInteger(opts.block) || opts.block < 1) throw new Error(`chunked variant: block must be a positive integer, got ${opts.block}`);
    return Math.min(opts.block, L);
  }
  const target = Math.max(16, 2 * ssm.M);
  if (L <= target) return L;
  return Math.ceil(L / Math.ceil(L / target));
}

export const convChunked: ConvVariant = {
  name: 'chunked',
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

    // Rows: the forward rows of the active channels, then (bidirectional) the same channels time-reversed.
    let x = u;
    if (ssm.dirs === 2) x = b.op('Concat', [u, reverseTime(b, u, L)], { axis: 1 });
    if (Lp > L) x = b.op('Pad', [x, b.constI64([0, 0, 0, 0, 0, Lp - L])]);
    const U = b.op('Reshape', [x, b.constI64([0, R, nb, T])]);
    const Z = b.op('MatMul', [U, b.initF32('chunk_toeplitz_in', m.w1, [R, T, T + S])]);
    b.work(R * 2 * nb * T * (T + S));
    let Y: string;
    if (nb === 1) {
      Y = b.op('Slice', [Z, b.constI64([0]), b.constI64([T]), b.constI64([3])]);
    } else {
      const [Yin, V] = b.node('Split', [Z, b.constI64([T, S])], { axis: 3 }, 2) as [string, string];
      const Vj = b.node('Split', [V, b.constI64(Array<number>(nb).fill(1))], { axis: 2 }, nb);
      const P = b.initF32('chunk_state_transition', m.p, [R, S, S]);
      const X = [Vj[0]!];
      for (let j = 1; j < nb - 1; j++) X.push(b.op('Add', [b.op('MatMul', [X[j - 1]!, P]), Vj[j]!]));
      b.work(R * (nb - 2) * (2 * S * S + S));
      const Xs = X.length === 1 ? X[0]! : b.op('Concat', X, { axis: 2 });
      const Yout = b.op('MatMul', [Xs, b.initF32('chunk_readout', m.out, [R, S, T])]);
      b.work(R * 2 * (nb - 1) * S * T);
      // Block 0 has no past: the read-out starts at block 1.
      Y = b.op('Add', [Yin, b.op('Pad', [Yout, b.constI64([0, 0, 1, 0, 0, 0, 0, 0])])]);
      b.work(R * Lp);
    }
    let y = b.op('Reshape', [Y, b.constI64([0, R, Lp])]);
    if (Lp > L) y = b.op('Slice', [y, b.constI64([0]), b.constI64([L]), b.constI64([2])]);
    if (ssm.dirs === 1) return y;
    const [yf, yb] = b.node('Split', [y, b.constI64([Ha, Ha])], { axis: 1 }, 2) as [string, string];
    b.work(Ha * L);
    return b.op('Add', [yf, reverseTime(b, yb, L)]);
  },
};

function reverseTime(b: GraphBuilder, x: string, L: number): string {
  return b.op('Slice', [x, b.constI64([-1]), b.constI64([-(L + 1)]), b.constI64([2]), b.constI64([-1])]);
}

/**
 * Per row r (dirs·active rows): w1 [T, T+2M] = [Toeplitz | input-to-state], p [2M, 2M] = (A^T)ᵀ,
 * out [2M, T] = read-out of the carried state.
 */
export function blockMatrices(ssm: LayerSsm, T: number): { w1: Float64Array; p: Float64Array; out: Float64Array } {
  const Ha = ssm.active.length;
  const S = 2 * ssm.M;
  const R = ssm.dirs * Ha;
  const K = ssm.kernel(T);
  const w1 = new Float64Array(R * T * (T + S));
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
      for (let d = 0; d < ssm.dirs; d++) w1.set(s, ((d * Ha + c) * T + (T - 1 - j)) * (T + S) + T);
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
          w1[(r * T + i) * (T + S) + t] = v;
        }
      }
    }
  }
  return { w1, p, out };
}

function dot(a: Float64Array, b: Float64Array): number {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i]! * b[i]!;
  return acc;
}
