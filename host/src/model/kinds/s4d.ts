/**
 * The S4D kind (diagonal A; ssm/s4d/): A = −exp(log_A_real) + i·A_imag, dt = exp(log_dt), zero-order hold
 * with B folded into C. Parameters under s4_layers.{i}.kernel, named as in the state-spaces S4D code:
 * log_dt [H], log_A_real and A_imag [H, N/2], C_re and C_im [dirs·H, N/2] (bidirectional: the forward
 * C's rows, then the backward C's; A and dt are shared).
 *
 * Step form: E = exp(dt·A), b̄ = (E − 1)/A, no rank-1 term. The exported state rows hold
 * p = Re x̃ + Im x̃ and q = Re x̃ − Im x̃ of x̃ = c∘x: the diagonal update keeps that basis
 * (x̃' = E∘x̃ + c∘b̄·u, so [p; q]' = Re E⊙[p; q] + [Im E; −Im E]⊙[q; p] + [p, q of c∘b̄]·u) and the
 * read-out 2·Re Σ x̃ = Σ (p + q) is one ReduceSum.
 */
import * as tf from '@tensorflow/tfjs';
import { s4dDiscretize } from '../../ssm/s4d/discrete.js';
import { s4dKernelForward } from '../../ssm/s4d/kernel.js';
import { s4dKernel } from '../../ssm/s4d/op.js';
import { initS4D, type S4DValues } from '../../ssm/s4d/params.js';
import type { ChannelStep, SsmKind } from './kind.js';

/** Field → parameter name (also what import-state-spaces.ts writes). */
export const S4D_PARAM_NAMES = {
  logDt: 'log_dt',
  logAReal: 'log_A_real',
  aImag: 'A_imag',
  cRe: 'C_re',
  cIm: 'C_im',
} as const;
const NAMES = S4D_PARAM_NAMES;
type Field = keyof typeof NAMES;

export const s4d: SsmKind = {
  name: 's4d',
  title: 'S4D',
  bidirectional: true,
  paramNames: NAMES,

  create(params, prefix, { H, M }, c, seed) {
    const v = initS4D(H, c.dState, {
      init: c.init,
      seed,
      dtMin: c.dtMin,
      dtMax: c.dtMax,
      bidirectional: c.bidirectional,
    });
    const dirs = c.bidirectional ? 2 : 1;
    const add = (f: Field, shape: number[]) => params.add(`${prefix}.${NAMES[f]}`, v[f], shape, 'ssm');
    const p = {
      logDt: add('logDt', [H]) as tf.Tensor1D,
      logAReal: add('logAReal', [H, M]) as tf.Tensor2D,
      aImag: add('aImag', [H, M]) as tf.Tensor2D,
      cRe: add('cRe', [dirs * H, M]) as tf.Tensor2D,
      cIm: add('cIm', [dirs * H, M]) as tf.Tensor2D,
    };
    return {
      kernel: (L, active, mask) => {
        if (!mask) return s4dKernel(p, L, active);
        // C·mask: masked modes read out nothing, and the product's gradient keeps their C where it is.
        return tf.tidy(() => {
          const m = tf.tensor2d(
            Float32Array.from({ length: dirs * H * M }, (_, i) => mask[i % (H * M)]!),
            [dirs * H, M],
          );
          return s4dKernel({ ...p, cRe: tf.mul(p.cRe, m), cIm: tf.mul(p.cIm, m) }, L, active);
        });
      },
      paramsPerChannel: 1 + M * (2 + 2 * dirs),
    };
  },

  read(value, { H, M }, active, bidirectional) {
    const dirs = bidirectional ? 2 : 1;
    const values: S4DValues = {
      H,
      M,
      logDt: value('logDt'),
      logAReal: value('logAReal'),
      aImag: value('aImag'),
      cRe: value('cRe'),
      cIm: value('cIm'),
    };
    // Discretisation is per channel and direction-free: discretise with the forward C only.
    const disc = s4dDiscretize({ ...values, cRe: values.cRe.subarray(0, H * M), cIm: values.cIm.subarray(0, H * M) });
    const steps = Array.from(active, (h): ChannelStep => {
      const s = h * M;
      const rows = (a: Float32Array) =>
        Array.from({ length: dirs }, (_, d) => Float64Array.from(a.subarray(d * H * M + s, d * H * M + s + M)));
      return {
        eRe: disc.dA_re.slice(s, s + M),
        eIm: disc.dA_im.slice(s, s + M),
        bRe: disc.dB_re.slice(s, s + M),
        bIm: disc.dB_im.slice(s, s + M),
        cRe: rows(values.cRe as Float32Array),
        cIm: rows(values.cIm as Float32Array),
      };
    });
    return { dirs, kernel: (L) => s4dKernelForward(values, L, active), steps };
  },

  statePruning: { readout: ['cRe', 'cIm'] },

  step: {
    lowRank: false,
    basis:
      '[batch, active, 2, M]: rows p = Re(c∘x) + Im(c∘x) and q = Re(c∘x) − Im(c∘x) of the SSM state x; zeros to start',
    fill(st, m, re, im, t) {
      t.e2[re + m] = st.eIm[m]!;
      t.e2[im + m] = -st.eIm[m]!;
      // c∘b̄ in the (p, q) rows.
      const cr = st.cRe[0]![m]!,
        ci = st.cIm[0]![m]!;
      const gr = cr * st.bRe[m]! - ci * st.bIm[m]!;
      const gi = cr * st.bIm[m]! + ci * st.bRe[m]!;
      t.bv[re + m] = gr + gi;
      t.bv[im + m] = gr - gi;
    },
  },
};
