/**
 * The S4 kind (DPLR A = Λ − P P*, bilinear discretisation; ssm/s4/): causal only. Parameters under
 * s4_layers.{i}.kernel: log_dt [H] and, each [H, N/2], Lambda_re/_im, P_re/_im, B_re/_im, C_re/_im.
 *
 * Step form (ssm/s4/discrete.ts): Ā = diag(2d − 1) − 4γ·(d∘p)·Re((p̄∘d)ᵀ ·), so E = 2d − 1,
 * w = −4γ·d∘p, q = p̄∘d, b̄ = B̄. The exported state rows hold Re x and Im x: the complex product E∘x is
 * E₁⊙x + E₂⊙swap(x) with E₂ = [−Im E; Im E], and the read-out weighs the rows by [2·Re c; −2·Im c].
 */
import type * as tf from '@tensorflow/tfjs';
import { bBar, s4Bilinear } from '../../ssm/s4/discrete.js';
import { s4KernelForward } from '../../ssm/s4/kernel.js';
import { initS4 } from '../../ssm/s4/init.js';
import { s4Kernel } from '../../ssm/s4/op.js';
import { S4_MODE_FIELDS, s4Channel, type S4ModeField, type S4ParamArrays, type S4Params } from '../../ssm/s4/params.js';
import type { ChannelStep, SsmKind } from './kind.js';

const NAMES: { logDt: string } & Record<S4ModeField, string> = {
  logDt: 'log_dt',
  lambdaRe: 'Lambda_re',
  lambdaIm: 'Lambda_im',
  pRe: 'P_re',
  pIm: 'P_im',
  bRe: 'B_re',
  bIm: 'B_im',
  cRe: 'C_re',
  cIm: 'C_im',
};

export const s4: SsmKind = {
  name: 's4',
  title: 'S4',
  bidirectional: false,
  paramNames: NAMES,
  modesCoupled:
    'its DPLR state matrix A = Λ − PQ* couples its modes through the low-rank term PQ*, so one mode cannot be removed without changing the others',

  create(params, prefix, { H, M }, c, seed) {
    const v = initS4(H, c.dState, { seed, dtMin: c.dtMin, dtMax: c.dtMax });
    const p = { logDt: params.add(`${prefix}.${NAMES.logDt}`, v.logDt, [H], 'ssm') as tf.Tensor1D } as S4Params;
    for (const f of S4_MODE_FIELDS) p[f] = params.add(`${prefix}.${NAMES[f]}`, v[f], [H, M], 'ssm') as tf.Tensor2D;
    return { kernel: (L, active) => s4Kernel(p, L, active), paramsPerChannel: 1 + 8 * M };
  },

  read(value, { H, M }, active) {
    const arrays = { H, M, logDt: value('logDt') } as S4ParamArrays;
    for (const f of S4_MODE_FIELDS) arrays[f] = value(f);
    const channels = Array.from(active, (h) => s4Channel(arrays, h));
    const steps = channels.map((ch): ChannelStep => {
      const bl = s4Bilinear(ch);
      const [bRe, bIm] = bBar(bl, ch.bRe, ch.bIm);
      const eRe = bl.dRe.map((d) => 2 * d - 1);
      const eIm = bl.dIm.map((d) => 2 * d);
      const g = -4 * bl.gamma;
      return {
        eRe,
        eIm,
        bRe,
        bIm,
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
    return { dirs: 1, kernel, steps };
  },

  step: {
    lowRank: true,
    basis: '[batch, active, 2, M]: rows Re x and Im x of the SSM state x; zeros to start',
    fill(st, m, re, im, t) {
      const low = st.lowRank!;
      t.e2[re + m] = -st.eIm[m]!;
      t.e2[im + m] = st.eIm[m]!;
      t.bv[re + m] = st.bRe[m]!;
      t.bv[im + m] = st.bIm[m]!;
      t.cv[re + m] = 2 * st.cRe[0]![m]!;
      t.cv[im + m] = -2 * st.cIm[0]![m]!;
      t.wv[re + m] = low.wRe[m]!;
      t.wv[im + m] = low.wIm[m]!;
      t.qv[re + m] = low.qRe[m]!;
      t.qv[im + m] = -low.qIm[m]!;
    },
  },
};
