import type * as tf from '@tensorflow/tfjs';
import { s4dKernel } from '../ssm/s4d/op.js';
import { initS4D } from '../ssm/s4d/params.js';
import { initS4, s4Kernel, type S4Params } from '../ssm/s4/op.js';
import { S4_MODE_FIELDS } from '../ssm/s4/params.js';
import type { ModelConfig } from './config.js';
import type { ParamStore } from './params.js';

/** The part of a layer that differs between S4D and S4: its parameters and how they make a kernel. */
export interface SsmKernel {
  /** Kernel rows of the active channels ([dirs·active.length, L]); differentiable. */
  kernel(L: number, active: Int32Array): tf.Tensor2D;
  /** SSM parameters owned by one channel (what bypassing it removes, D excluded). */
  readonly paramsPerChannel: number;
}

export function createSsm(params: ParamStore, prefix: string, c: ModelConfig, seed: number): SsmKernel {
  const H = c.dModel;
  const M = c.dState / 2;
  if (c.ssm === 's4d') {
    const v = initS4D(H, c.dState, { init: c.init, seed, dtMin: c.dtMin, dtMax: c.dtMax, bidirectional: c.bidirectional });
    const dirs = c.bidirectional ? 2 : 1;
    const p = {
      logDt: params.add(`${prefix}.log_dt`, v.logDt, [H], 'ssm') as tf.Tensor1D,
      logAReal: params.add(`${prefix}.log_A_real`, v.logAReal, [H, M], 'ssm') as tf.Tensor2D,
      aImag: params.add(`${prefix}.A_imag`, v.aImag, [H, M], 'ssm') as tf.Tensor2D,
      cRe: params.add(`${prefix}.C_re`, v.cRe, [dirs * H, M], 'ssm') as tf.Tensor2D,
      cIm: params.add(`${prefix}.C_im`, v.cIm, [dirs * H, M], 'ssm') as tf.Tensor2D,
    };
    return { kernel: (L, active) => s4dKernel(p, L, active), paramsPerChannel: 1 + M * (2 + 2 * dirs) };
  }
  if (c.bidirectional) throw new Error('model config: bidirectional is supported for S4D only');
  const v = initS4(H, c.dState, { seed, dtMin: c.dtMin, dtMax: c.dtMax });
  // Parameter names: kernel.log_dt, kernel.Lambda_re/_im, kernel.P_re/_im, kernel.B_re/_im, kernel.C_re/_im.
  const names: Record<(typeof S4_MODE_FIELDS)[number], string> = {
    lambdaRe: 'Lambda_re', lambdaIm: 'Lambda_im', pRe: 'P_re', pIm: 'P_im', bRe: 'B_re', bIm: 'B_im', cRe: 'C_re', cIm: 'C_im',
  };
  const p = { logDt: params.add(`${prefix}.log_dt`, v.logDt, [H], 'ssm') as tf.Tensor1D } as S4Params;
  for (const f of S4_MODE_FIELDS) p[f] = params.add(`${prefix}.${names[f]}`, v[f], [H, M], 'ssm') as tf.Tensor2D;
  return { kernel: (L, active) => s4Kernel(p, L, active), paramsPerChannel: 1 + 8 * M };
}
