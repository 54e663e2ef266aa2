import type * as tf from '@tensorflow/tfjs';
import { initS4D } from '../ssm/s4d.js';
import { s4dKernel } from '../ssm/ops.js';
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
  throw new Error('S4 (DPLR) layers: not wired yet');
}
