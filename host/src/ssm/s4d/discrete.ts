/**
 * The S4D step (recurrent) form: zero-order-hold discretisation and a float64 reference run of it.
 */
import { checkActive, type Real } from '../channels.js';
import { zoh } from './kernel.js';
import { s4dDirections, type S4DValues } from './params.js';

/** Discretised step-form parameters (float64): state update x ← dA ⊙ x + dB·u, y = 2·Re(C·x) + D·u. */
export interface S4DDiscrete {
  H: number;
  M: number;
  dA_re: Float64Array;
  dA_im: Float64Array;
  dB_re: Float64Array;
  dB_im: Float64Array;
  C_re: Float64Array;
  C_im: Float64Array;
}

/** Zero-order hold: dA = exp(dt·A), dB = (exp(dt·A) − 1)/A (B = 1); C is passed through (causal only). */
export function s4dDiscretize(p: S4DValues): S4DDiscrete {
  const dirs = s4dDirections(p);
  if (dirs !== 1) throw new Error('s4dDiscretize: the step form exists only for the causal (unidirectional) layer');
  const { H, M } = p;
  const d: S4DDiscrete = {
    H,
    M,
    dA_re: new Float64Array(H * M),
    dA_im: new Float64Array(H * M),
    dB_re: new Float64Array(H * M),
    dB_im: new Float64Array(H * M),
    C_re: Float64Array.from(p.cRe),
    C_im: Float64Array.from(p.cIm),
  };
  for (let h = 0; h < H; h++) {
    const dt = Math.exp(p.logDt[h]!);
    for (let m = 0; m < M; m++) {
      const i = h * M + m;
      const mode = zoh(-Math.exp(p.logAReal[i]!), p.aImag[i]!, dt);
      d.dA_re[i] = mode.zr;
      d.dA_im[i] = mode.zi;
      d.dB_re[i] = mode.fr;
      d.dB_im[i] = mode.fi;
    }
  }
  return d;
}

/**
 * Runs u [B, L, H] (channels last) through the step form, state (B, H, M) complex starting at 0.
 * Bypassed channels (not in `active`, default all active) pass u through. Float64 reference.
 */
export function s4dStepRun(
  disc: S4DDiscrete,
  u: Real,
  shape: { B: number; L: number },
  D: Real,
  active?: Int32Array,
): Float64Array {
  const { H, M } = disc;
  const { B, L } = shape;
  if (u.length !== B * L * H) throw new Error(`s4dStepRun: u has ${u.length} values, expected B·L·H = ${B * L * H}`);
  if (D.length !== H) throw new Error(`s4dStepRun: D has ${D.length} values, expected H = ${H}`);
  const act = active ?? Int32Array.from({ length: H }, (_, h) => h);
  checkActive(act, H);
  const y = Float64Array.from(u);
  const xr = new Float64Array(M);
  const xi = new Float64Array(M);
  for (let b = 0; b < B; b++) {
    for (const h of act) {
      xr.fill(0);
      xi.fill(0);
      for (let t = 0; t < L; t++) {
        const idx = (b * L + t) * H + h;
        const ut = u[idx]!;
        let acc = 0;
        for (let m = 0; m < M; m++) {
          const i = h * M + m;
          const ar = disc.dA_re[i]!;
          const ai = disc.dA_im[i]!;
          const nr = ar * xr[m]! - ai * xi[m]! + disc.dB_re[i]! * ut;
          const ni = ar * xi[m]! + ai * xr[m]! + disc.dB_im[i]! * ut;
          xr[m] = nr;
          xi[m] = ni;
          acc += disc.C_re[i]! * nr - disc.C_im[i]! * ni;
        }
        y[idx] = 2 * acc + D[h]! * ut;
      }
    }
  }
  return y;
}
