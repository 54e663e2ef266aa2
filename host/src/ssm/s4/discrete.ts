/**
 * Bilinear discretisation of one S4 channel and its step (recurrent) form, in float64.
 *
 * Conjugate pairs. A channel stores M = N/2 modes; the full N-mode system has
 *   Λ_f = [λ; λ̄], P_f = [p; p̄], B_f = [b; b̄], C_f = [c, c̄],  A_f = diag(Λ_f) − P_f P_f*.
 * This is a real system written in a complex basis, so its states stay conjugate-symmetric
 * (x_f = [x; x̄]) and only the half x is kept; y = C_f x_f = 2·Re(c·x). The rank-1 term couples a mode
 * with the conjugate of every other mode, so the half update is R-linear, not C-linear:
 *   x' = Ā₁ x + Ā₂ x̄ + B̄ u   (a plain complex N/2×N/2 matrix cannot express it).
 *
 * Bilinear transform, with M₋ = I − (dt/2) A_f and D = diag(d), d = 1/(1 − (dt/2) λ):
 *   M₋⁻¹ = D − γ u vᵀ (Woodbury), u = D P_f, vᵀ = P_f* D, γ = (dt/2) / (1 + (dt/2)·S), S = P_f* D P_f,
 *   Ā = M₋⁻¹ (I + (dt/2) A_f) = 2 M₋⁻¹ − I = 2D − I − 2γ u vᵀ,   B̄ = dt·M₋⁻¹ B_f.
 * On the half: u = d∘p, vᵀ ↔ q = p̄∘d, S = 2·Re Σ |p|² d (real), so
 *   (Ā x)_n = (2d_n − 1) x_n − 2γ u_n · 2·Re Σ_m q_m x_m       (column action, the state update)
 *   (r Ā)_n = (2d_n − 1) r_n − 2γ q_n · 2·Re Σ_m r_m u_m       (row action, for C Ā^L)
 */
import {
  LAMBDA_RE_MAX,
  s4Channel,
  s4ParamArrays,
  type S4Channel,
  type S4ParamArrays,
  type S4Params,
} from './params.js';
import { checkActive } from '../channels.js';

export interface S4Bilinear {
  M: number;
  dt: number;
  /** Λ after the Re Λ ≤ LAMBDA_RE_MAX clamp; `clamped[n]` = 1 where the clamp is active. */
  lamRe: Float64Array;
  lamIm: Float64Array;
  clamped: Uint8Array;
  dRe: Float64Array;
  dIm: Float64Array;
  /** u = d∘p */
  uRe: Float64Array;
  uIm: Float64Array;
  /** q = p̄∘d */
  qRe: Float64Array;
  qIm: Float64Array;
  S: number;
  gamma: number;
}

export function s4Bilinear(ch: S4Channel): S4Bilinear {
  const { M } = ch;
  const dt = Math.exp(ch.logDt);
  if (!Number.isFinite(dt) || dt <= 0)
    throw new Error(`S4: dt = exp(logDt) must be positive and finite, got logDt = ${ch.logDt}`);
  const lamRe = new Float64Array(M);
  const lamIm = Float64Array.from(ch.lambdaIm);
  const clamped = new Uint8Array(M);
  const dRe = new Float64Array(M),
    dIm = new Float64Array(M);
  const uRe = new Float64Array(M),
    uIm = new Float64Array(M);
  const qRe = new Float64Array(M),
    qIm = new Float64Array(M);
  let S = 0;
  for (let n = 0; n < M; n++) {
    const lr = ch.lambdaRe[n]!;
    if (lr > LAMBDA_RE_MAX) clamped[n] = 1;
    lamRe[n] = Math.min(lr, LAMBDA_RE_MAX);
    // d = 1 / (1 − (dt/2) λ)
    const xr = 1 - 0.5 * dt * lamRe[n]!;
    const xi = -0.5 * dt * lamIm[n]!;
    const m2 = xr * xr + xi * xi;
    const dr = xr / m2,
      di = -xi / m2;
    dRe[n] = dr;
    dIm[n] = di;
    const pr = ch.pRe[n]!,
      pi = ch.pIm[n]!;
    uRe[n] = dr * pr - di * pi;
    uIm[n] = dr * pi + di * pr;
    qRe[n] = pr * dr + pi * di;
    qIm[n] = pr * di - pi * dr;
    S += 2 * (pr * pr + pi * pi) * dr;
  }
  const gamma = (0.5 * dt) / (1 + 0.5 * dt * S);
  return { M, dt, lamRe, lamIm, clamped, dRe, dIm, uRe, uIm, qRe, qIm, S, gamma };
}

/** out = r Ā (row vector, half form); returns s = 2·Re Σ r u. `out` must not alias `r`. */
export function rowStep(
  bl: S4Bilinear,
  rRe: Float64Array,
  rIm: Float64Array,
  outRe: Float64Array,
  outIm: Float64Array,
): number {
  const { M, dRe, dIm, uRe, uIm, qRe, qIm, gamma } = bl;
  let s = 0;
  for (let n = 0; n < M; n++) s += rRe[n]! * uRe[n]! - rIm[n]! * uIm[n]!;
  s *= 2;
  const f = 2 * gamma * s;
  for (let n = 0; n < M; n++) {
    const er = 2 * dRe[n]! - 1,
      ei = 2 * dIm[n]!;
    const xr = rRe[n]!,
      xi = rIm[n]!;
    outRe[n] = er * xr - ei * xi - f * qRe[n]!;
    outIm[n] = er * xi + ei * xr - f * qIm[n]!;
  }
  return s;
}

/** out = Ā x (column, half form). `out` must not alias `x`. */
export function colStep(
  bl: S4Bilinear,
  xRe: Float64Array,
  xIm: Float64Array,
  outRe: Float64Array,
  outIm: Float64Array,
): void {
  const { M, dRe, dIm, uRe, uIm, qRe, qIm, gamma } = bl;
  let s = 0;
  for (let n = 0; n < M; n++) s += qRe[n]! * xRe[n]! - qIm[n]! * xIm[n]!;
  const f = 4 * gamma * s;
  for (let n = 0; n < M; n++) {
    const er = 2 * dRe[n]! - 1,
      ei = 2 * dIm[n]!;
    const xr = xRe[n]!,
      xi = xIm[n]!;
    outRe[n] = er * xr - ei * xi - f * uRe[n]!;
    outIm[n] = er * xi + ei * xr - f * uIm[n]!;
  }
}

/** B̄ = dt·M₋⁻¹ B (half form): dt·(d∘b − γ u · 2·Re Σ q b). */
export function bBar(bl: S4Bilinear, bRe: Float64Array, bIm: Float64Array): [Float64Array, Float64Array] {
  const { M, dt, dRe, dIm, uRe, uIm, qRe, qIm, gamma } = bl;
  let s = 0;
  for (let n = 0; n < M; n++) s += qRe[n]! * bRe[n]! - qIm[n]! * bIm[n]!;
  const f = 2 * gamma * s;
  const re = new Float64Array(M),
    im = new Float64Array(M);
  for (let n = 0; n < M; n++) {
    re[n] = dt * (dRe[n]! * bRe[n]! - dIm[n]! * bIm[n]! - f * uRe[n]!);
    im[n] = dt * (dRe[n]! * bIm[n]! + dIm[n]! * bRe[n]! - f * uIm[n]!);
  }
  return [re, im];
}

/** One channel, discretised, in two equivalent step forms. */
export interface S4DiscreteChannel {
  /** Index of the channel in [0, H). */
  channel: number;
  /** Complex modes kept (N/2); the real state has N = 2M entries. */
  M: number;
  /** Half complex form: x_k = Ā₁ x_{k−1} + Ā₂ conj(x_{k−1}) + B̄ u_k, y_k = 2·Re(C x_k). Ā₁, Ā₂ are M×M row-major. */
  a1Re: Float64Array;
  a1Im: Float64Array;
  a2Re: Float64Array;
  a2Im: Float64Array;
  bBarRe: Float64Array;
  bBarIm: Float64Array;
  cRe: Float64Array;
  cIm: Float64Array;
  /**
   * Real form on s = [Re x; Im x] (length 2M): s_k = A s_{k−1} + B u_k, y_k = C·s_k.
   * A is 2M×2M row-major; C already holds the factor 2 of 2·Re.
   */
  A: Float64Array;
  B: Float64Array;
  C: Float64Array;
}

export function discretizeChannel(ch: S4Channel, channel: number): S4DiscreteChannel {
  const bl = s4Bilinear(ch);
  const { M, dRe, dIm, uRe, uIm, qRe, qIm, gamma } = bl;
  // Ā₁ = diag(2d − 1) − 2γ u qᵀ,  Ā₂ = −2γ u q̄ᵀ  (from 2·Re z = z + z̄).
  const a1Re = new Float64Array(M * M),
    a1Im = new Float64Array(M * M);
  const a2Re = new Float64Array(M * M),
    a2Im = new Float64Array(M * M);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < M; j++) {
      const ur = uRe[i]!,
        ui = uIm[i]!,
        qr = qRe[j]!,
        qi = qIm[j]!;
      a1Re[i * M + j] = -2 * gamma * (ur * qr - ui * qi);
      a1Im[i * M + j] = -2 * gamma * (ur * qi + ui * qr);
      a2Re[i * M + j] = -2 * gamma * (ur * qr + ui * qi);
      a2Im[i * M + j] = -2 * gamma * (ui * qr - ur * qi);
    }
    a1Re[i * M + i] += 2 * dRe[i]! - 1;
    a1Im[i * M + i] += 2 * dIm[i]!;
  }
  const [bBarRe, bBarIm] = bBar(bl, ch.bRe, ch.bIm);
  const N = 2 * M;
  const A = new Float64Array(N * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < M; j++) {
      const k = i * M + j;
      A[i * N + j] = a1Re[k]! + a2Re[k]!;
      A[i * N + M + j] = a2Im[k]! - a1Im[k]!;
      A[(M + i) * N + j] = a1Im[k]! + a2Im[k]!;
      A[(M + i) * N + M + j] = a1Re[k]! - a2Re[k]!;
    }
  }
  const B = new Float64Array(N);
  const C = new Float64Array(N);
  for (let n = 0; n < M; n++) {
    B[n] = bBarRe[n]!;
    B[M + n] = bBarIm[n]!;
    C[n] = 2 * ch.cRe[n]!;
    C[M + n] = -2 * ch.cIm[n]!;
  }
  return {
    channel,
    M,
    a1Re,
    a1Im,
    a2Re,
    a2Im,
    bBarRe,
    bBarIm,
    cRe: Float64Array.from(ch.cRe),
    cIm: Float64Array.from(ch.cIm),
    A,
    B,
    C,
  };
}

/** Discretised step form of the active channels, in the order of `active`. */
export function s4Discretize(params: S4Params | S4ParamArrays, active: Int32Array): S4DiscreteChannel[] {
  const arrays = isArrays(params) ? params : s4ParamArrays(params);
  checkActive(active, arrays.H);
  return Array.from(active, (h) => discretizeChannel(s4Channel(arrays, h), h));
}

function isArrays(p: S4Params | S4ParamArrays): p is S4ParamArrays {
  return p.logDt instanceof Float32Array || p.logDt instanceof Float64Array;
}

/**
 * Float64 step-mode reference: runs each channel's recurrence over its input row.
 * u is [channels.length, L] row-major; D (optional, [channels.length]) adds the skip term D·u.
 */
export function s4StepRun(channels: S4DiscreteChannel[], u: Float64Array, L: number, D?: Float64Array): Float64Array {
  if (!Number.isInteger(L) || L < 0) throw new Error(`s4StepRun: L must be a non-negative integer, got ${L}`);
  if (u.length !== channels.length * L)
    throw new Error(`s4StepRun: u has ${u.length} values, expected ${channels.length}·${L}`);
  if (D && D.length !== channels.length)
    throw new Error(`s4StepRun: D has ${D.length} values, expected ${channels.length}`);
  const y = new Float64Array(u.length);
  channels.forEach((c, row) => {
    const N = 2 * c.M;
    let s = new Float64Array(N);
    let next = new Float64Array(N);
    for (let k = 0; k < L; k++) {
      const uk = u[row * L + k]!;
      let out = 0;
      for (let i = 0; i < N; i++) {
        let acc = c.B[i]! * uk;
        for (let j = 0; j < N; j++) acc += c.A[i * N + j]! * s[j]!;
        next[i] = acc;
        out += c.C[i]! * acc;
      }
      [s, next] = [next, s];
      y[row * L + k] = out + (D ? D[row]! * uk : 0);
    }
  });
  return y;
}
