/**
 * The S4 (DPLR) kernel as a tfjs op with a hand-derived gradient.
 *
 * Forward reads the parameters (dataSync), computes each active channel's kernel in float64
 * (kernel.ts: C̃ = C(I − Ā^{L'}), Cauchy sums with the rank-1 Woodbury correction at the roots of
 * unity, inverse FFT) and returns float32 [active.length, L]. The gradient runs the float64 backward of
 * kernel.ts; inactive channels cost nothing and get zero gradient. No tf complex or FFT kernels are
 * used, so it runs on every backend (wasm, cpu).
 */
import * as tf from '@tensorflow/tfjs';
import { checkActive } from '../channels.js';
import { s4KernelBackward, s4KernelForward, s4TruncationLength, type S4KernelCache } from './kernel.js';
import { S4_MODE_FIELDS, s4Channel, s4ParamArrays, type S4Channel, type S4Params } from './params.js';

const FIELDS = ['logDt', ...S4_MODE_FIELDS] as const;

/** Kernel rows of the active channels in the order of `active`: [active.length, L]. Differentiable
 *  w.r.t. every parameter (rows of inactive channels get zero gradient); no work for inactive channels. */
export function s4Kernel(p: S4Params, L: number, active: Int32Array): tf.Tensor2D {
  s4TruncationLength(L);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inputs = {} as S4Params;
    FIELDS.forEach((f, i) => ((inputs as unknown as Record<string, tf.Tensor>)[f] = args[i] as tf.Tensor));
    const arrays = s4ParamArrays(inputs);
    const { H, M } = arrays;
    checkActive(active, H);
    const A = active.length;
    const out = new Float32Array(A * L);
    const channels: S4Channel[] = [];
    const caches: S4KernelCache[] = [];
    for (let i = 0; i < A; i++) {
      const ch = s4Channel(arrays, active[i]!);
      const { k, cache } = s4KernelForward(ch, L);
      out.set(k, i * L);
      channels.push(ch);
      caches.push(cache);
    }
    const value = tf.tensor2d(out, [A, L], 'float32');
    const gradFunc = (dy: tf.Tensor2D): tf.Tensor[] => {
      const gy = dy.dataSync();
      const gLogDt = new Float32Array(H);
      const gModes = S4_MODE_FIELDS.map(() => new Float32Array(H * M));
      for (let i = 0; i < A; i++) {
        const h = active[i]!;
        const g = s4KernelBackward(channels[i]!, L, gy.subarray(i * L, (i + 1) * L), caches[i]);
        gLogDt[h] = g.logDt;
        S4_MODE_FIELDS.forEach((f, j) => gModes[j]!.set(g[f], h * M));
      }
      return [tf.tensor1d(gLogDt, 'float32'), ...gModes.map((a) => tf.tensor2d(a, [H, M], 'float32'))];
    };
    return { value, gradFunc };
  });
  return op(p.logDt, p.lambdaRe, p.lambdaIm, p.pRe, p.pIm, p.bRe, p.bIm, p.cRe, p.cIm) as tf.Tensor2D;
}
