/**
 * S4D (diagonal state space, Gu et al. 2022) parameters in float64-readable typed arrays, and their
 * seeded initialisation. The kernel (kernel.ts), its gradient (gradient.ts), the step form
 * (discrete.ts) and the tfjs op (op.ts) read this layout.
 *
 * Layout (per layer, H = d_model channels, M = d_state/2 complex modes per channel):
 *   logDt [H], logAReal [H·M], aImag [H·M], cRe/cIm [dirs·H·M] with dirs = 1 (causal) or 2
 *   (bidirectional: rows 0..H−1 the forward C, rows H..2H−1 the backward C; A and dt are shared,
 *   as in the state-spaces code where C has shape (channels=2, H, N/2)).
 * A = −exp(logAReal) + i·aImag, dt = exp(logDt), zero-order hold with B folded into C (kernel.ts).
 */
import { Rng } from '../../util/random.js';
import type { Real } from '../channels.js';

export interface S4DValues {
  /** d_model: number of channels (operators). */
  H: number;
  /** Complex modes per channel (d_state / 2). */
  M: number;
  logDt: Real;
  logAReal: Real;
  aImag: Real;
  cRe: Real;
  cIm: Real;
}

/** Number of C directions (1 causal, 2 bidirectional); validates every array's length. */
export function s4dDirections(p: S4DValues): 1 | 2 {
  const { H, M } = p;
  if (!Number.isInteger(H) || H < 1) throw new Error(`S4D: d_model H must be a positive integer, got ${H}`);
  if (!Number.isInteger(M) || M < 1) throw new Error(`S4D: modes per channel M must be a positive integer, got ${M}`);
  if (p.logDt.length !== H) throw new Error(`S4D: logDt has ${p.logDt.length} values, expected H = ${H}`);
  for (const [name, a] of [
    ['logAReal', p.logAReal],
    ['aImag', p.aImag],
  ] as const) {
    if (a.length !== H * M) throw new Error(`S4D: ${name} has ${a.length} values, expected H·M = ${H * M}`);
  }
  if (p.cIm.length !== p.cRe.length)
    throw new Error(`S4D: cRe and cIm differ in length (${p.cRe.length} vs ${p.cIm.length})`);
  if (p.cRe.length === H * M) return 1;
  if (p.cRe.length === 2 * H * M) return 2;
  throw new Error(`S4D: C has ${p.cRe.length} values, expected H·M = ${H * M} or 2·H·M = ${2 * H * M} (bidirectional)`);
}

export interface InitOptions {
  /** 'lin': A = −1/2 + iπm (S4D-Lin); 'inv': A = −1/2 + i(N/π)(N/(2m+1) − 1) (S4D-Inv). */
  init?: 'lin' | 'inv';
  seed?: number;
  dtMin?: number;
  dtMax?: number;
  bidirectional?: boolean;
}

export interface S4DInit {
  logDt: Float32Array;
  logAReal: Float32Array;
  aImag: Float32Array;
  cRe: Float32Array;
  cIm: Float32Array;
}

/** Initial S4D parameters for H channels and state size N (N/2 complex modes), seeded. */
export function initS4D(H: number, N: number, opts: InitOptions = {}): S4DInit {
  const { init = 'lin', seed = 0, dtMin = 1e-3, dtMax = 1e-1, bidirectional = false } = opts;
  if (!Number.isInteger(H) || H < 1) throw new Error(`initS4D: d_model must be a positive integer, got ${H}`);
  if (!Number.isInteger(N) || N < 2 || N % 2 !== 0)
    throw new Error(`initS4D: d_state must be an even integer ≥ 2, got ${N}`);
  if (init !== 'lin' && init !== 'inv') throw new Error(`initS4D: init must be "lin" or "inv", got "${String(init)}"`);
  if (!(dtMin > 0 && dtMax >= dtMin)) throw new Error(`initS4D: need 0 < dtMin ≤ dtMax, got ${dtMin}, ${dtMax}`);
  const M = N / 2;
  const rng = new Rng(seed);
  const logDt = new Float32Array(H);
  const lo = Math.log(dtMin);
  const hi = Math.log(dtMax);
  for (let h = 0; h < H; h++) logDt[h] = rng.uniform(lo, hi);
  const logAReal = new Float32Array(H * M).fill(Math.log(0.5));
  const aImag = new Float32Array(H * M);
  for (let h = 0; h < H; h++) {
    for (let m = 0; m < M; m++) {
      aImag[h * M + m] = init === 'lin' ? Math.PI * m : (N / Math.PI) * (N / (2 * m + 1) - 1);
    }
  }
  const dirs = bidirectional ? 2 : 1;
  const cRe = new Float32Array(dirs * H * M);
  const cIm = new Float32Array(dirs * H * M);
  // Complex standard normal: real and imaginary parts each N(0, 1/2).
  for (let i = 0; i < cRe.length; i++) {
    cRe[i] = rng.normal() * Math.SQRT1_2;
    cIm[i] = rng.normal() * Math.SQRT1_2;
  }
  return { logDt, logAReal, aImag, cRe, cIm };
}
