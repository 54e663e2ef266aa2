/**
 * Cauchy sums of the S4 kernel at the roots of unity, over conjugate pairs, with their backward pass.
 *
 * The generating function of a bilinear-discretised SSM at ω is 2·C̃ [(2/dt)(1−ω) − (1+ω)A]⁻¹ B, so
 * for a diagonal A every term has the form v / (a − bλ). Writing α = 2(1 − ω), β = 1 + ω:
 *   1 / ((2/dt)(1−ω) − (1+ω)λ) = dt / (α − β·dt·λ),
 * which stays finite at ω = −1 (the S4 code's z = 2(1−ω)/(1+ω) blows up there). With M modes kept of
 * each conjugate pair, the sum over all N = 2M modes is
 *   out_s(ω_k) = dt · Σ_n [ v_sn / (α_k − β_k dt λ_n) + v̄_sn / (α_k − β_k dt λ̄_n) ]        (*)
 * for several vectors v_s at once (the S4 kernel needs four: the Woodbury blocks).
 * Nodes: ω_k = e^{−2πik/L'} for k = 0 … L'/2 (the rest follow by conjugate symmetry of a real kernel).
 */

export interface BilinearNodes {
  /** Power-of-two truncation length L'. */
  Lp: number;
  /** Number of nodes, L'/2 + 1. */
  K: number;
  /** α_k = 2(1 − ω_k) */
  aRe: Float64Array;
  aIm: Float64Array;
  /** β_k = 1 + ω_k */
  bRe: Float64Array;
  bIm: Float64Array;
}

const nodeCache = new Map<number, BilinearNodes>();

export function bilinearNodes(Lp: number): BilinearNodes {
  if (!Number.isInteger(Lp) || Lp < 2 || (Lp & (Lp - 1)) !== 0) throw new Error(`Cauchy nodes: L' must be a power of two ≥ 2, got ${Lp}`);
  let nodes = nodeCache.get(Lp);
  if (!nodes) {
    const K = Lp / 2 + 1;
    const aRe = new Float64Array(K), aIm = new Float64Array(K), bRe = new Float64Array(K), bIm = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      // Exact values at k = 0 and k = L'/2 (ω = ±1).
      const c = k === 0 ? 1 : k === Lp / 2 ? -1 : Math.cos((2 * Math.PI * k) / Lp);
      const s = k === 0 || k === Lp / 2 ? 0 : -Math.sin((2 * Math.PI * k) / Lp);
      aRe[k] = 2 * (1 - c);
      aIm[k] = -2 * s;
      bRe[k] = 1 + c;
      bIm[k] = s;
    }
    nodes = { Lp, K, aRe, aIm, bRe, bIm };
    nodeCache.set(Lp, nodes);
  }
  return nodes;
}

/**
 * Forward (*): v is [nv, M] row-major (split re/im), out is [nv, K] row-major, overwritten.
 */
export function cauchyConj(
  vRe: Float64Array, vIm: Float64Array, nv: number,
  lamRe: Float64Array, lamIm: Float64Array, dt: number,
  nodes: BilinearNodes, outRe: Float64Array, outIm: Float64Array,
): void {
  const M = lamRe.length;
  const { K, aRe, aIm, bRe, bIm } = nodes;
  outRe.fill(0, 0, nv * K);
  outIm.fill(0, 0, nv * K);
  for (let n = 0; n < M; n++) {
    const wr = dt * lamRe[n]!, wi = dt * lamIm[n]!;
    for (let k = 0; k < K; k++) {
      const br = bRe[k]!, bi = bIm[k]!, ar = aRe[k]!, ai = aIm[k]!;
      // den1 = α − β·w, den2 = α − β·w̄; inv = conj(den)/|den|²
      const d1r = ar - (br * wr - bi * wi), d1i = ai - (br * wi + bi * wr);
      const d2r = ar - (br * wr + bi * wi), d2i = ai - (bi * wr - br * wi);
      const m1 = 1 / (d1r * d1r + d1i * d1i), m2 = 1 / (d2r * d2r + d2i * d2i);
      const i1r = d1r * m1, i1i = -d1i * m1, i2r = d2r * m2, i2i = -d2i * m2;
      for (let s = 0; s < nv; s++) {
        const vr = vRe[s * M + n]!, vi = vIm[s * M + n]!;
        // v·inv1 + v̄·inv2
        outRe[s * K + k] += vr * (i1r + i2r) - vi * (i1i - i2i);
        outIm[s * K + k] += vr * (i1i + i2i) + vi * (i1r - i2r);
      }
    }
  }
  for (let i = 0; i < nv * K; i++) {
    outRe[i] *= dt;
    outIm[i] *= dt;
  }
}

export interface CauchyGrads {
  /** ∂ℒ/∂Re v + i ∂ℒ/∂Im v, [nv, M] */
  vRe: Float64Array;
  vIm: Float64Array;
  /** ∂ℒ/∂Re λ + i ∂ℒ/∂Im λ, [M] */
  lamRe: Float64Array;
  lamIm: Float64Array;
  dt: number;
}

/**
 * Backward of (*). Gradients of a real loss ℒ are carried as ḡ(z) = ∂ℒ/∂Re z + i ∂ℒ/∂Im z; for a
 * holomorphic w = f(z), ḡ(z) = conj(f′(z))·ḡ(w), and through z ↦ z̄, ḡ(z) = conj(ḡ(z̄)).
 * Given g_s(ω_k) = ḡ(out_s(ω_k)) ([nv, K]), with inv1 = 1/(α − β dt λ), inv2 = 1/(α − β dt λ̄):
 *   ḡ(v_sn) = dt Σ_k [ conj(inv1)·g_sk + inv2·conj(g_sk) ]
 *   ḡ(λ_n)  = dt² Σ_k [ conj(β inv1²)·G1 + β inv2²·conj(G3) ],   G1 = Σ_s v̄_sn g_sk,  G3 = Σ_s v_sn g_sk
 *   ∂ℒ/∂dt = Σ_{n,k} Re[ conj(G1)·(inv1 + dt β λ inv1²) + conj(G3)·(inv2 + dt β λ̄ inv2²) ]
 * (∂inv1/∂λ = β dt inv1², ∂inv1/∂dt = β λ inv1², and the leading factor dt gives the inv terms.)
 */
export function cauchyConjBackward(
  vRe: Float64Array, vIm: Float64Array, nv: number,
  lamRe: Float64Array, lamIm: Float64Array, dt: number,
  nodes: BilinearNodes, gRe: Float64Array, gIm: Float64Array,
): CauchyGrads {
  const M = lamRe.length;
  const { K, aRe, aIm, bRe, bIm } = nodes;
  const gvRe = new Float64Array(nv * M), gvIm = new Float64Array(nv * M);
  const glRe = new Float64Array(M), glIm = new Float64Array(M);
  let gdt = 0;
  for (let n = 0; n < M; n++) {
    const lr = lamRe[n]!, li = lamIm[n]!;
    const wr = dt * lr, wi = dt * li;
    let lamAccRe = 0, lamAccIm = 0, dtAcc = 0;
    for (let k = 0; k < K; k++) {
      const br = bRe[k]!, bi = bIm[k]!, ar = aRe[k]!, ai = aIm[k]!;
      const d1r = ar - (br * wr - bi * wi), d1i = ai - (br * wi + bi * wr);
      const d2r = ar - (br * wr + bi * wi), d2i = ai - (bi * wr - br * wi);
      const m1 = 1 / (d1r * d1r + d1i * d1i), m2 = 1 / (d2r * d2r + d2i * d2i);
      const i1r = d1r * m1, i1i = -d1i * m1, i2r = d2r * m2, i2i = -d2i * m2;
      let G1r = 0, G1i = 0, G3r = 0, G3i = 0;
      for (let s = 0; s < nv; s++) {
        const gr = gRe[s * K + k]!, gi = gIm[s * K + k]!;
        const vr = vRe[s * M + n]!, vi = vIm[s * M + n]!;
        // conj(inv1)·g + inv2·conj(g)
        gvRe[s * M + n] += i1r * gr + i1i * gi + i2r * gr + i2i * gi;
        gvIm[s * M + n] += i1r * gi - i1i * gr + i2i * gr - i2r * gi;
        G1r += vr * gr + vi * gi;
        G1i += vr * gi - vi * gr;
        G3r += vr * gr - vi * gi;
        G3i += vr * gi + vi * gr;
      }
      // inv² and β·inv²
      const s1r = i1r * i1r - i1i * i1i, s1i = 2 * i1r * i1i;
      const s2r = i2r * i2r - i2i * i2i, s2i = 2 * i2r * i2i;
      const t1r = br * s1r - bi * s1i, t1i = br * s1i + bi * s1r; // β inv1²
      const t2r = br * s2r - bi * s2i, t2i = br * s2i + bi * s2r; // β inv2²
      // conj(t1)·G1 + t2·conj(G3)
      lamAccRe += t1r * G1r + t1i * G1i + t2r * G3r + t2i * G3i;
      lamAccIm += t1r * G1i - t1i * G1r + t2i * G3r - t2r * G3i;
      // X1 = inv1 + dt·λ·t1, X2 = inv2 + dt·λ̄·t2; Re(conj(G1) X1) + Re(conj(G3) X2)
      const x1r = i1r + (wr * t1r - wi * t1i), x1i = i1i + (wr * t1i + wi * t1r);
      const x2r = i2r + (wr * t2r + wi * t2i), x2i = i2i + (wr * t2i - wi * t2r);
      dtAcc += G1r * x1r + G1i * x1i + G3r * x2r + G3i * x2i;
    }
    glRe[n] = dt * dt * lamAccRe;
    glIm[n] = dt * dt * lamAccIm;
    gdt += dtAcc;
  }
  for (let i = 0; i < nv * M; i++) {
    gvRe[i] *= dt;
    gvIm[i] *= dt;
  }
  return { vRe: gvRe, vIm: gvIm, lamRe: glRe, lamIm: glIm, dt: gdt };
}
