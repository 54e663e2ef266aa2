/**
 * HiPPO-LegS and its normal-plus-low-rank (NPLR) form, in float64.
 *
 * LegS (S4 paper, eq. 2): A[n,k] = −√(2n+1)√(2k+1) for n > k, −(n+1) for n = k, 0 for n < k;
 * B[n] = √(2n+1). With the rank-1 term P[n] = √(n + ½), A + P Pᵀ = −½ I + S with S skew-symmetric,
 * so A + P Pᵀ is normal: A = V Λ V* − P Pᵀ with V unitary, Λ = −½ + i·(eigenvalues of S / i).
 * The eigenvalues of the real S come in conjugate pairs; the S4 parameterisation keeps one of each pair
 * (the ones with Im Λ < 0, as the S4 code does) and the other half is implied by conjugation.
 */
import { eigHermitian } from './eigh.js';

function checkN(N: number, even: boolean): void {
  if (!Number.isInteger(N) || N < 1) throw new Error(`HiPPO: d_state N must be a positive integer, got ${N}`);
  if (even && N % 2 !== 0) throw new Error(`HiPPO: d_state N must be even (conjugate pairs), got ${N}`);
}

/** Dense LegS state matrix, N×N row-major. */
export function legsA(N: number): Float64Array {
  checkN(N, false);
  const A = new Float64Array(N * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k <= n; k++) A[n * N + k] = n === k ? -(n + 1) : -Math.sqrt(2 * n + 1) * Math.sqrt(2 * k + 1);
  }
  return A;
}

/** LegS input vector B[n] = √(2n+1). */
export function legsB(N: number): Float64Array {
  checkN(N, false);
  return Float64Array.from({ length: N }, (_, n) => Math.sqrt(2 * n + 1));
}

/** LegS rank-1 correction P[n] = √(n + ½), so that A + P Pᵀ is normal. */
export function legsP(N: number): Float64Array {
  checkN(N, false);
  return Float64Array.from({ length: N }, (_, n) => Math.sqrt(n + 0.5));
}

/** Complex vectors are split re/im; matrices are row-major. */
export interface LegsNplr {
  N: number;
  /** All N eigenvalues of A + P Pᵀ (conjugate pairs), in the order of V's columns. */
  lambdaRe: Float64Array;
  lambdaIm: Float64Array;
  /** Unitary eigenvector matrix, N×N, columns are modes. */
  vRe: Float64Array;
  vIm: Float64Array;
  /** P and B in the eigenbasis: V* P, V* B (length N). */
  pRe: Float64Array;
  pIm: Float64Array;
  bRe: Float64Array;
  bIm: Float64Array;
}

/**
 * Full NPLR form of LegS: A = V diag(Λ) V* − P Pᵀ, i.e. V* (A + P Pᵀ) V = diag(Λ).
 * The first N/2 columns are the kept half (Im Λ < 0, most negative first), column N/2 + j is the
 * conjugate of column j. Each kept eigenvector's phase is chosen so that (V* P)_j is real and ≥ 0.
 */
export function legsNplr(N: number): LegsNplr {
  checkN(N, true);
  const A = legsA(N);
  const P = legsP(N);
  const B = legsB(N);
  // S = A + P Pᵀ + ½ I is real skew-symmetric; i·S is Hermitian with eigenvalues μ, and S v = −iμ v.
  const hRe = new Float64Array(N * N);
  const hIm = new Float64Array(N * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < N; k++) {
      const s = A[n * N + k]! + P[n]! * P[k]! + (n === k ? 0.5 : 0);
      hIm[n * N + k] = n === k ? 0 : s;
    }
  }
  // Symmetrise the round-off of the skew part so the Hermitian check is exact.
  for (let n = 0; n < N; n++) {
    for (let k = n + 1; k < N; k++) {
      const s = 0.5 * (hIm[n * N + k]! - hIm[k * N + n]!);
      hIm[n * N + k] = s;
      hIm[k * N + n] = -s;
    }
  }
  const eig = eigHermitian(hRe, hIm, N);
  // Ascending μ; Im Λ = −μ < 0 ⇔ μ > 0: kept modes are the largest μ first (most negative Im Λ first).
  const M = N / 2;
  const vRe = new Float64Array(N * N);
  const vIm = new Float64Array(N * N);
  const lambdaRe = new Float64Array(N).fill(-0.5);
  const lambdaIm = new Float64Array(N);
  for (let j = 0; j < M; j++) {
    const src = N - 1 - j;
    const mu = eig.values[src]!;
    if (!(mu > 1e-9)) throw new Error(`HiPPO: LegS skew part has a (near-)zero eigenvalue ${mu} at N = ${N}`);
    // Phase so that (V* P)_j = Σ conj(v_i) P_i is real and ≥ 0.
    let zr = 0;
    let zi = 0;
    for (let i = 0; i < N; i++) {
      zr += eig.vecRe[i * N + src]! * P[i]!;
      zi -= eig.vecIm[i * N + src]! * P[i]!;
    }
    const zAbs = Math.hypot(zr, zi);
    // v ← v·e^{iθ} turns z into z·e^{−iθ}; choose e^{iθ} = z/|z|.
    const cr = zAbs > 0 ? zr / zAbs : 1;
    const ci = zAbs > 0 ? zi / zAbs : 0;
    lambdaIm[j] = -mu;
    lambdaIm[M + j] = mu;
    for (let i = 0; i < N; i++) {
      const xr = eig.vecRe[i * N + src]!;
      const xi = eig.vecIm[i * N + src]!;
      const yr = xr * cr - xi * ci;
      const yi = xr * ci + xi * cr;
      vRe[i * N + j] = yr;
      vIm[i * N + j] = yi;
      vRe[i * N + M + j] = yr;
      vIm[i * N + M + j] = -yi;
    }
  }
  const project = (x: Float64Array): [Float64Array, Float64Array] => {
    const re = new Float64Array(N);
    const im = new Float64Array(N);
    for (let j = 0; j < N; j++) {
      let sr = 0;
      let si = 0;
      for (let i = 0; i < N; i++) {
        sr += vRe[i * N + j]! * x[i]!;
        si -= vIm[i * N + j]! * x[i]!;
      }
      re[j] = sr;
      im[j] = si;
    }
    return [re, im];
  };
  const [pRe, pIm] = project(P);
  const [bRe, bIm] = project(B);
  return { N, lambdaRe, lambdaIm, vRe, vIm, pRe, pIm, bRe, bIm };
}

/** The kept half (N/2 modes) of the NPLR form: what one S4 channel is initialised with. */
export interface LegsHalf {
  M: number;
  lambdaRe: Float64Array;
  lambdaIm: Float64Array;
  pRe: Float64Array;
  pIm: Float64Array;
  bRe: Float64Array;
  bIm: Float64Array;
}

const halfCache = new Map<number, LegsHalf>();

/** First N/2 modes of `legsNplr(N)` (cached per N: the eigen-solve is O(N³)). Do not mutate the arrays. */
export function legsHalf(N: number): LegsHalf {
  let half = halfCache.get(N);
  if (!half) {
    const f = legsNplr(N);
    const M = N / 2;
    half = {
      M,
      lambdaRe: f.lambdaRe.slice(0, M),
      lambdaIm: f.lambdaIm.slice(0, M),
      pRe: f.pRe.slice(0, M),
      pIm: f.pIm.slice(0, M),
      bRe: f.bRe.slice(0, M),
      bIm: f.bIm.slice(0, M),
    };
    halfCache.set(N, half);
  }
  return half;
}
