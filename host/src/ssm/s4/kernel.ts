/**
 * The S4 (DPLR) convolution kernel of one channel in float64, forward and hand-derived backward.
 *
 * Forward, with L' = max(2, nextPow2(L)) and the half/conjugate-pair conventions of discrete.ts:
 *  1. C̃ = C (I − Ā^{L'}): L' row steps r ← r Ā from r = c, then c̃ = c − r.
 *  2. Four Cauchy sums (cauchy.ts) at ω_k = e^{−2πik/L'}, k = 0 … L'/2, with Q = P* (Woodbury blocks):
 *       k00 = Σ c̃b, k01 = Σ c̃p, k10 = Σ p̄b, k11 = Σ p̄p   (each over both halves of the pairs).
 *  3. Woodbury: K̂ = 2·[k00 − β k01 k10 / (1 + β k11)], β = 1 + ω, since
 *       K̂(ω) = C̃ (I − Āω)⁻¹ B̄ = 2·C̃ [(2/dt)(1−ω) − (1+ω)(Λ − P P*)]⁻¹ B.
 *  4. K = real inverse DFT of K̂ (Hermitian extension to L' points); K[l] = C Ā^l B̄ for l < L', first L kept.
 *
 * Backward (ḡ(z) = ∂ℒ/∂Re z + i ∂ℒ/∂Im z; holomorphic w = f(z) gives ḡ(z) = conj(f′)·ḡ(w)):
 *  4ᵀ. K_l = (1/L') Re Σ_{k=0}^{L'/2} w_k K̂_k e^{2πikl/L'}, w_k = 1 at DC and Nyquist, 2 otherwise, so
 *      ḡ(K̂_k) = (w_k/L') · FFT(G)_k with G the kernel gradient zero-padded to L'.
 *  3ᵀ. With E = 1 + β k11:  ḡ(k00) = 2g, ḡ(k01) = conj(−2β k10/E) g, ḡ(k10) = conj(−2β k01/E) g,
 *      ḡ(k11) = conj(2β² k01 k10/E²) g.
 *  2ᵀ. cauchyConjBackward gives ḡ(v), ḡ(λ), ∂ℒ/∂dt; then through the products
 *      ḡ(c̃) = b̄ ḡ(v00) + p̄ ḡ(v01),  ḡ(b) = conj(c̃) ḡ(v00) + p ḡ(v10),
 *      ḡ(p) = conj(c̃) ḡ(v01) + b conj(ḡ(v10)) + 2p Re ḡ(v11).
 *  1ᵀ. ḡ(c) = ḡ(c̃) + ḡ(r₀), where ḡ(r_{L'}) = −ḡ(c̃) runs back through the row steps
 *      r' = e∘r − 2γ s q, e = 2d − 1, s = 2 Re Σ r u (real):  with ρ = ḡ(r'), t = Σ ρ̄ q,
 *        ∂ℒ/∂s = −2γ Re t,  ḡ(r) = ē ρ + ū·2∂ℒ/∂s,  ḡ(e) += r̄ ρ,  ḡ(q) += −2γ s ρ,
 *        ḡ(u) += r̄·2∂ℒ/∂s,  ∂ℒ/∂γ += −2 s Re t.
 *      Then through the bilinear quantities (discrete.ts):
 *        ḡ(d) = 2ḡ(e) + p ḡ(q) + p̄ ḡ(u) + 2(∂ℒ/∂S)|p|²,  ∂ℒ/∂S = −γ² ∂ℒ/∂γ,
 *        ḡ(p) += d conj(ḡ(q)) + d̄ ḡ(u) + 4(∂ℒ/∂S) Re(d) p,
 *        ḡ(λ) += conj((dt/2) d²) ḡ(d),  ∂ℒ/∂dt += (2γ²/dt²) ∂ℒ/∂γ + Σ Re(conj(ḡ(d)) (λ/2) d²),
 *      and ∂ℒ/∂log_dt = dt ∂ℒ/∂dt; clamped Re λ entries get zero gradient.
 */
import { CAUCHY_SUMS as NV, bilinearNodes, cauchyConj, cauchyConjBackward } from './cauchy.js';
import { fftFor, nextPow2 } from '../fft.js';
import { s4Bilinear, type S4Bilinear } from './discrete.js';
import { zeroChannelGrad, type S4Channel, type S4ChannelGrad } from './params.js';

/** Truncation length of the generating function: a power of two ≥ max(L, 2). */
export function s4TruncationLength(L: number): number {
  if (!Number.isInteger(L) || L < 1) throw new Error(`S4 kernel: length L must be a positive integer, got ${L}`);
  return Math.max(2, nextPow2(L));
}

/** What the backward pass reuses from the forward. */
export interface S4KernelCache {
  /** C̃ = C (I − Ā^{L'}) */
  ctRe: Float64Array;
  ctIm: Float64Array;
  /** Cauchy sums k00, k01, k10, k11 at the L'/2 + 1 nodes, [4, K]. */
  sumRe: Float64Array;
  sumIm: Float64Array;
}

function cauchyVectors(ch: S4Channel, ctRe: Float64Array, ctIm: Float64Array): [Float64Array, Float64Array] {
  const { M, pRe, pIm, bRe, bIm } = ch;
  const vRe = new Float64Array(NV * M),
    vIm = new Float64Array(NV * M);
  for (let n = 0; n < M; n++) {
    const cr = ctRe[n]!,
      ci = ctIm[n]!,
      pr = pRe[n]!,
      pi = pIm[n]!,
      br = bRe[n]!,
      bi = bIm[n]!;
    vRe[n] = cr * br - ci * bi; // c̃ b
    vIm[n] = cr * bi + ci * br;
    vRe[M + n] = cr * pr - ci * pi; // c̃ p
    vIm[M + n] = cr * pi + ci * pr;
    vRe[2 * M + n] = pr * br + pi * bi; // p̄ b
    vIm[2 * M + n] = pr * bi - pi * br;
    vRe[3 * M + n] = pr * pr + pi * pi; // p̄ p
  }
  return [vRe, vIm];
}

/**
 * C̃ = C − C Ā^{L'}; also stores the row history r_j = C Ā^j (j < L') when asked, as [L', 2, M].
 * The row step r ← e∘r − 2γ s q (discrete.ts rowStep) is elementwise once s is known: done in place.
 */
function cTilde(ch: S4Channel, bl: S4Bilinear, Lp: number, history?: Float64Array): [Float64Array, Float64Array] {
  const { M } = ch;
  const { dRe, dIm, uRe, uIm, qRe, qIm, gamma } = bl;
  const rRe = Float64Array.from(ch.cRe),
    rIm = Float64Array.from(ch.cIm);
  for (let j = 0; j < Lp; j++) {
    let s = 0;
    const off = 2 * j * M;
    for (let n = 0; n < M; n++) {
      const xr = rRe[n]!,
        xi = rIm[n]!;
      if (history) {
        history[off + n] = xr;
        history[off + M + n] = xi;
      }
      s += xr * uRe[n]! - xi * uIm[n]!;
    }
    const f = 4 * gamma * s;
    for (let n = 0; n < M; n++) {
      const er = 2 * dRe[n]! - 1,
        ei = 2 * dIm[n]!;
      const xr = rRe[n]!,
        xi = rIm[n]!;
      rRe[n] = er * xr - ei * xi - f * qRe[n]!;
      rIm[n] = er * xi + ei * xr - f * qIm[n]!;
    }
  }
  const ctRe = new Float64Array(M),
    ctIm = new Float64Array(M);
  for (let n = 0; n < M; n++) {
    ctRe[n] = ch.cRe[n]! - rRe[n]!;
    ctIm[n] = ch.cIm[n]! - rIm[n]!;
  }
  return [ctRe, ctIm];
}

/** Kernel K[0 … L−1] of one channel. */
export function s4KernelForward(ch: S4Channel, L: number): { k: Float64Array; cache: S4KernelCache } {
  const Lp = s4TruncationLength(L);
  const bl = s4Bilinear(ch);
  const [ctRe, ctIm] = cTilde(ch, bl, Lp);
  const [vRe, vIm] = cauchyVectors(ch, ctRe, ctIm);
  const nodes = bilinearNodes(Lp);
  const { K, bRe, bIm } = nodes;
  const sumRe = new Float64Array(NV * K),
    sumIm = new Float64Array(NV * K);
  cauchyConj(vRe, vIm, bl.lamRe, bl.lamIm, bl.dt, nodes, sumRe, sumIm);
  const re = new Float64Array(Lp),
    im = new Float64Array(Lp);
  for (let k = 0; k < K; k++) {
    const [hr, hi] = woodbury(sumRe, sumIm, K, k, bRe[k]!, bIm[k]!);
    re[k] = hr;
    im[k] = hi;
    if (k > 0 && k < Lp / 2) {
      re[Lp - k] = hr;
      im[Lp - k] = -hi;
    }
  }
  fftFor(Lp).inverse(re, im);
  return { k: re.slice(0, L), cache: { ctRe, ctIm, sumRe, sumIm } };
}

/** K̂_k = 2·[k00 − β k01 k10 / (1 + β k11)] */
function woodbury(
  sRe: Float64Array,
  sIm: Float64Array,
  K: number,
  k: number,
  br: number,
  bi: number,
): [number, number] {
  const [a00r, a00i, a01r, a01i, a10r, a10i, a11r, a11i] = blocks(sRe, sIm, K, k);
  const er = 1 + br * a11r - bi * a11i,
    ei = br * a11i + bi * a11r;
  // β k01 k10 / E
  const pr = a01r * a10r - a01i * a10i,
    pi = a01r * a10i + a01i * a10r;
  const nr = br * pr - bi * pi,
    ni = br * pi + bi * pr;
  const e2 = er * er + ei * ei;
  const qr = (nr * er + ni * ei) / e2,
    qi = (ni * er - nr * ei) / e2;
  return [2 * (a00r - qr), 2 * (a00i - qi)];
}

function blocks(sRe: Float64Array, sIm: Float64Array, K: number, k: number): number[] {
  return [
    sRe[k]!,
    sIm[k]!,
    sRe[K + k]!,
    sIm[K + k]!,
    sRe[2 * K + k]!,
    sIm[2 * K + k]!,
    sRe[3 * K + k]!,
    sIm[3 * K + k]!,
  ];
}

/** Gradient of ℒ with respect to the channel's parameters, given gK = ∂ℒ/∂K[0 … L−1]. */
export function s4KernelBackward(
  ch: S4Channel,
  L: number,
  gK: ArrayLike<number>,
  cache?: S4KernelCache,
): S4ChannelGrad {
  const { M } = ch;
  if (gK.length !== L) throw new Error(`S4 kernel backward: gradient has ${gK.length} values, expected L = ${L}`);
  const Lp = s4TruncationLength(L);
  const bl = s4Bilinear(ch);
  const { dt, gamma, dRe, dIm, uRe, uIm, qRe, qIm } = bl;
  const history = new Float64Array(2 * Lp * M);
  const [ctRe, ctIm] = cTilde(ch, bl, Lp, history);
  const nodes = bilinearNodes(Lp);
  const { K, bRe, bIm } = nodes;
  let sumRe: Float64Array, sumIm: Float64Array;
  if (cache) {
    ({ sumRe, sumIm } = cache);
  } else {
    sumRe = new Float64Array(NV * K);
    sumIm = new Float64Array(NV * K);
    const [vRe, vIm] = cauchyVectors(ch, ctRe, ctIm);
    cauchyConj(vRe, vIm, bl.lamRe, bl.lamIm, dt, nodes, sumRe, sumIm);
  }
  const g = zeroChannelGrad(M);

  // 4ᵀ: adjoint of the real inverse DFT.
  const fr = new Float64Array(Lp),
    fi = new Float64Array(Lp);
  for (let l = 0; l < L; l++) fr[l] = gK[l]!;
  fftFor(Lp).forward(fr, fi);
  // 3ᵀ: Woodbury.
  const gsRe = new Float64Array(NV * K),
    gsIm = new Float64Array(NV * K);
  for (let k = 0; k < K; k++) {
    const w = (k === 0 || k === Lp / 2 ? 1 : 2) / Lp;
    const gr = w * fr[k]!,
      gi = w * fi[k]!;
    const [, , a01r, a01i, a10r, a10i, a11r, a11i] = blocks(sumRe, sumIm, K, k);
    const br = bRe[k]!,
      bi = bIm[k]!;
    const er = 1 + br * a11r - bi * a11i,
      ei = br * a11i + bi * a11r;
    const e2 = er * er + ei * ei;
    // 1/E, −2β/E
    const ier = er / e2,
      iei = -ei / e2;
    const mr = -2 * (br * ier - bi * iei),
      mi = -2 * (br * iei + bi * ier);
    // f01 = −2β k10/E, f10 = −2β k01/E, f11 = −f01·f10/2·… = 2β² k01 k10 / E²
    const f01r = mr * a10r - mi * a10i,
      f01i = mr * a10i + mi * a10r;
    const f10r = mr * a01r - mi * a01i,
      f10i = mr * a01i + mi * a01r;
    const f11r = 0.5 * (f01r * f10r - f01i * f10i),
      f11i = 0.5 * (f01r * f10i + f01i * f10r);
    gsRe[k] = 2 * gr;
    gsIm[k] = 2 * gi;
    // conj(f)·g
    gsRe[K + k] = f01r * gr + f01i * gi;
    gsIm[K + k] = f01r * gi - f01i * gr;
    gsRe[2 * K + k] = f10r * gr + f10i * gi;
    gsIm[2 * K + k] = f10r * gi - f10i * gr;
    gsRe[3 * K + k] = f11r * gr + f11i * gi;
    gsIm[3 * K + k] = f11r * gi - f11i * gr;
  }
  // 2ᵀ: Cauchy sums, then the products forming v.
  const [vRe, vIm] = cauchyVectors(ch, ctRe, ctIm);
  const cg = cauchyConjBackward(vRe, vIm, bl.lamRe, bl.lamIm, dt, nodes, gsRe, gsIm);
  let gdt = cg.dt;
  const glRe = cg.lamRe,
    glIm = cg.lamIm;
  const gctRe = new Float64Array(M),
    gctIm = new Float64Array(M);
  for (let n = 0; n < M; n++) {
    const v0r = cg.vRe[n]!,
      v0i = cg.vIm[n]!,
      v1r = cg.vRe[M + n]!,
      v1i = cg.vIm[M + n]!;
    const v2r = cg.vRe[2 * M + n]!,
      v2i = cg.vIm[2 * M + n]!,
      v3r = cg.vRe[3 * M + n]!;
    const cr = ctRe[n]!,
      ci = ctIm[n]!,
      pr = ch.pRe[n]!,
      pi = ch.pIm[n]!,
      br = ch.bRe[n]!,
      bi = ch.bIm[n]!;
    // ḡ(c̃) = b̄ ḡ(v00) + p̄ ḡ(v01)
    gctRe[n] = br * v0r + bi * v0i + pr * v1r + pi * v1i;
    gctIm[n] = br * v0i - bi * v0r + pr * v1i - pi * v1r;
    // ḡ(b) = conj(c̃) ḡ(v00) + p ḡ(v10)
    g.bRe[n] = cr * v0r + ci * v0i + pr * v2r - pi * v2i;
    g.bIm[n] = cr * v0i - ci * v0r + pr * v2i + pi * v2r;
    // ḡ(p) = conj(c̃) ḡ(v01) + b conj(ḡ(v10)) + 2p Re ḡ(v11)
    g.pRe[n] = cr * v1r + ci * v1i + br * v2r + bi * v2i + 2 * pr * v3r;
    g.pIm[n] = cr * v1i - ci * v1r + bi * v2r - br * v2i + 2 * pi * v3r;
  }
  // 1ᵀ: back through C̃ = c − c Ā^{L'}.
  const geRe = new Float64Array(M),
    geIm = new Float64Array(M);
  const gqRe = new Float64Array(M),
    gqIm = new Float64Array(M);
  const guRe = new Float64Array(M),
    guIm = new Float64Array(M);
  let gGamma = 0;
  const rhoRe = new Float64Array(M),
    rhoIm = new Float64Array(M);
  for (let n = 0; n < M; n++) {
    rhoRe[n] = -gctRe[n]!;
    rhoIm[n] = -gctIm[n]!;
  }
  for (let j = Lp - 1; j >= 0; j--) {
    const rOff = 2 * j * M,
      iOff = rOff + M;
    let s = 0,
      tRe = 0;
    for (let n = 0; n < M; n++) {
      s += history[rOff + n]! * uRe[n]! - history[iOff + n]! * uIm[n]!;
      tRe += rhoRe[n]! * qRe[n]! + rhoIm[n]! * qIm[n]!;
    }
    s *= 2;
    const gS2 = -4 * gamma * tRe; // 2·∂ℒ/∂s
    gGamma += -2 * s * tRe;
    const fq = -2 * gamma * s;
    // Elementwise once s and t are known: ρ is updated in place.
    for (let n = 0; n < M; n++) {
      const rr = history[rOff + n]!,
        ri = history[iOff + n]!;
      const pr = rhoRe[n]!,
        pi = rhoIm[n]!;
      gqRe[n] += fq * pr;
      gqIm[n] += fq * pi;
      geRe[n] += rr * pr + ri * pi;
      geIm[n] += rr * pi - ri * pr;
      guRe[n] += gS2 * rr;
      guIm[n] -= gS2 * ri;
      const er = 2 * dRe[n]! - 1,
        ei = 2 * dIm[n]!;
      rhoRe[n] = er * pr + ei * pi + gS2 * uRe[n]!;
      rhoIm[n] = er * pi - ei * pr - gS2 * uIm[n]!;
    }
  }
  for (let n = 0; n < M; n++) {
    g.cRe[n] = gctRe[n]! + rhoRe[n]!;
    g.cIm[n] = gctIm[n]! + rhoIm[n]!;
  }
  // Bilinear quantities: γ(S, dt), u = d p, q = p̄ d, e = 2d − 1, d(λ, dt).
  const gS = -gamma * gamma * gGamma;
  gdt += ((2 * gamma * gamma) / (dt * dt)) * gGamma;
  for (let n = 0; n < M; n++) {
    const pr = ch.pRe[n]!,
      pi = ch.pIm[n]!,
      dr = dRe[n]!,
      di = dIm[n]!;
    const p2 = pr * pr + pi * pi;
    const gqr = gqRe[n]!,
      gqi = gqIm[n]!,
      gur = guRe[n]!,
      gui = guIm[n]!;
    // ḡ(d) = 2ḡ(e) + p ḡ(q) + p̄ ḡ(u) + 2 gS |p|²
    const gdr = 2 * geRe[n]! + (pr * gqr - pi * gqi) + (pr * gur + pi * gui) + 2 * gS * p2;
    const gdi = 2 * geIm[n]! + (pr * gqi + pi * gqr) + (pr * gui - pi * gur);
    // ḡ(p) += d conj(ḡ(q)) + d̄ ḡ(u) + 4 gS Re(d) p
    g.pRe[n] += dr * gqr + di * gqi + (dr * gur + di * gui) + 4 * gS * dr * pr;
    g.pIm[n] += di * gqr - dr * gqi + (dr * gui - di * gur) + 4 * gS * dr * pi;
    // d² and ḡ(λ) += conj((dt/2) d²) ḡ(d); ∂ℒ/∂dt += Re(conj(ḡ(d)) (λ/2) d²)
    const d2r = dr * dr - di * di,
      d2i = 2 * dr * di;
    const hr = 0.5 * dt * d2r,
      hi = 0.5 * dt * d2i;
    glRe[n] += hr * gdr + hi * gdi;
    glIm[n] += hr * gdi - hi * gdr;
    const lr = bl.lamRe[n]!,
      li = bl.lamIm[n]!;
    const xr = 0.5 * (lr * d2r - li * d2i),
      xi = 0.5 * (lr * d2i + li * d2r);
    gdt += gdr * xr + gdi * xi;
  }
  for (let n = 0; n < M; n++) {
    g.lambdaRe[n] = bl.clamped[n] ? 0 : glRe[n]!;
    g.lambdaIm[n] = glIm[n]!;
  }
  g.logDt = dt * gdt;
  return g;
}
