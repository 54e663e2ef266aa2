/**
 * S4 initialisation (HiPPO-LegS in NPLR form): every channel starts from the same Λ, P, B (the kept half
 * of LegS's diagonalisation, hippo.ts); C ~ N(0, ½) per real and imaginary part; log_dt ~ U(log dtMin,
 * log dtMax). Draw order from the seeded Rng: log_dt for h = 0 … H−1, then C row by row (re, im per mode).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../util/random.js';
import { legsHalf } from './hippo.js';
import { S4_MODE_FIELDS, type S4ModeField, type S4Params } from './params.js';

export interface S4InitOptions {
  seed?: number;
  dtMin?: number;
  dtMax?: number;
}

/** Float32 arrays, row-major [H, N/2] (logDt [H]), ready for a parameter store. */
export type S4Init = { H: number; M: number; logDt: Float32Array } & Record<S4ModeField, Float32Array>;

export function initS4(H: number, N: number, { seed = 0, dtMin = 1e-3, dtMax = 1e-1 }: S4InitOptions = {}): S4Init {
  if (!Number.isInteger(H) || H < 1) throw new Error(`initS4: d_model H must be a positive integer, got ${H}`);
  if (!Number.isInteger(N) || N < 2 || N % 2 !== 0)
    throw new Error(`initS4: d_state N must be an even integer ≥ 2, got ${N}`);
  if (!(dtMin > 0) || !(dtMax >= dtMin) || !Number.isFinite(dtMax)) {
    throw new Error(`initS4: need 0 < dtMin ≤ dtMax < ∞, got dtMin = ${dtMin}, dtMax = ${dtMax}`);
  }
  const M = N / 2;
  const legs = legsHalf(N);
  const rng = new Rng(seed);
  const out = { H, M, logDt: new Float32Array(H) } as S4Init;
  for (const f of S4_MODE_FIELDS) out[f] = new Float32Array(H * M);
  const lo = Math.log(dtMin),
    hi = Math.log(dtMax);
  for (let h = 0; h < H; h++) out.logDt[h] = rng.uniform(lo, hi);
  const sd = Math.SQRT1_2;
  for (let h = 0; h < H; h++) {
    out.lambdaRe.set(legs.lambdaRe, h * M);
    out.lambdaIm.set(legs.lambdaIm, h * M);
    out.pRe.set(legs.pRe, h * M);
    out.pIm.set(legs.pIm, h * M);
    out.bRe.set(legs.bRe, h * M);
    out.bIm.set(legs.bIm, h * M);
    for (let n = 0; n < M; n++) {
      out.cRe[h * M + n] = sd * rng.normal();
      out.cIm[h * M + n] = sd * rng.normal();
    }
  }
  return out;
}

/** Float32 tensors of the given arrays (the caller owns and disposes them). */
export function s4ParamsFromArrays(a: S4Init): S4Params {
  const { H, M } = a;
  const p = { logDt: tf.tensor1d(a.logDt, 'float32') } as S4Params;
  for (const f of S4_MODE_FIELDS) p[f] = tf.tensor2d(a[f], [H, M], 'float32');
  return p;
}
