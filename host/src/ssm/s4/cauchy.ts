/**
 * Cauchy sums of the S4 kernel at the roots of unity, over conjugate pairs, with their backward pass.
 *
 * The generating function of a bilinear-discretised SSM at ω is 2·C̃ [(2/dt)(1−ω) − (1+ω)A]⁻¹ B, so
 * for a diagonal A every term has the form v / (a − bλ). Writing α = 2(1 − ω), β = 1 + ω:
 *   1 / ((2/dt)(1−ω) − (1+ω)λ) = dt / (α − β·dt·λ),
 * which stays finite at ω = −1 (the S4 code's z = 2(1−ω)/(1+ω) blows up there). With M modes kept of
 * each conjugate pair, the sum over all N = 2M modes is
 *   out_s(ω_k) = dt · Σ_n [ v_sn / (α_k − β_k dt λ_n) + v̄_sn / (α_k − β_k dt λ̄_n) ]        (*)
 * for four vectors v_s at once (the Woodbury blocks of the S4 kernel).
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
  if (!Number.isInteger(Lp) || Lp < 2 || (Lp & (Lp - 1)) !== 0)
    throw new Error(`Cauchy nodes: L' must be a power of two ≥ 2, got ${Lp}`);
  let nodes = nodeCache.get(Lp);
  if (!nodes) {
    const K = Lp / 2 + 1;
    const aRe = new Float64Array(K),
      aIm = new Float64Array(K),
      bRe = new Float64Array(K),
      bIm = new Float64Array(K);
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

/** Number of sums computed together: the four Woodbury blocks of the S4 kernel. */
export const CAUCHY_SUMS = 4;

/**
 * Forward (*) for the four vectors v_0 … v_3: v is [4, M] row-major (split re/im), out is [4, K].
 * Node-major with scalar accumulators: each (ω_k, λ_n) pair costs two complex reciprocals shared by the
 * four sums, and v·inv1 + v̄·inv2 = v_r·(inv1 + inv2) + i·v_i·(inv1 − inv2) in components.
 */
export function cauchyConj(
  vRe: Float64Array,
  vIm: Float64Array,
  lamRe: Float64Array,
  lamIm: Float64Array,
  dt: number,
  nodes: BilinearNodes,
  outRe: Float64Array,
  outIm: Float64Array,
): void {
  const M = lamRe.length;
  checkSizes(vRe, vIm, M);
  const { K, aRe, aIm, bRe, bIm } = nodes;
  const M2 = 2 * M,
    M3 = 3 * M;
  const wRe = new Float64Array(M),
    wIm = new Float64Array(M);
  for (let n = 0; n < M; n++) {
    wRe[n] = dt * lamRe[n]!;
    wIm[n] = dt * lamIm[n]!;
  }
  for (let k = 0; k < K; k++) {
    const br = bRe[k]!,
      bi = bIm[k]!,
      ar = aRe[k]!,
      ai = aIm[k]!;
    let s0r = 0,
      s0i = 0,
      s1r = 0,
      s1i = 0,
      s2r = 0,
      s2i = 0,
      s3r = 0,
      s3i = 0;
    for (let n = 0; n < M; n++) {
      const wr = wRe[n]!,
        wi = wIm[n]!;
      // den1 = α − β·w, den2 = α − β·w̄; inv = conj(den)/|den|²
      const xr = br * wr,
        xi = br * wi,
        yr = bi * wr,
        yi = bi * wi;
      const d1r = ar - xr + yi,
        d1i = ai - xi - yr;
      const d2r = ar - xr - yi,
        d2i = ai + xi - yr;
      const m1 = 1 / (d1r * d1r + d1i * d1i),
        m2 = 1 / (d2r * d2r + d2i * d2i);
      const i1r = d1r * m1,
        i1i = -d1i * m1,
        i2r = d2r * m2,
        i2i = -d2i * m2;
      const pr = i1r + i2r,
        pi = i1i + i2i,
        qr = i1r - i2r,
        qi = i1i - i2i;
      let vr = vRe[n]!,
        vi = vIm[n]!;
      s0r += vr * pr - vi * qi;
      s0i += vr * pi + vi * qr;
      vr = vRe[M + n]!;
      vi = vIm[M + n]!;
      s1r += vr * pr - vi * qi;
      s1i += vr * pi + vi * qr;
      vr = vRe[M2 + n]!;
      vi = vIm[M2 + n]!;
      s2r += vr * pr - vi * qi;
      s2i += vr * pi + vi * qr;
      vr = vRe[M3 + n]!;
      vi = vIm[M3 + n]!;
      s3r += vr * pr - vi * qi;
      s3i += vr * pi + vi * qr;
    }
    outRe[k] = dt * s0r;
    outIm[k] = dt * s0i;
    outRe[K + k] = dt * s1r;
    outIm[K + k] = dt * s1i;
    outRe[2 * K + k] = dt * s2r;
    outIm[2 * K + k] = dt * s2i;
    outRe[3 * K + k] = dt * s3r;
    outIm[3 * K + k] = dt * s3i;
  }
}

function checkSizes(vRe: Float64Array, vIm: Float64Array, M: number): void {
  if (vRe.length !== CAUCHY_SUMS * M || vIm.length !== CAUCHY_SUMS * M) {
    throw new Error(
      `Cauchy sums: v must be [${CAUCHY_SUMS}, ${M}], got ${vRe.length} (re) and ${vIm.length} (im) values`,
    );
  }
}

export interface CauchyGrads {
  /** ∂ℒ/∂Re v + i ∂ℒ/∂Im v, [4, M] */
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
 * Given g_s(ω_k) = ḡ(out_s(ω_k)) ([4, K]), with inv1 = 1/(α − β dt λ), inv2 = 1/(α − β dt λ̄):
 *   ḡ(v_sn) = dt Σ_k [ conj(inv1)·g_sk + inv2·conj(g_sk) ]
 *   ḡ(λ_n)  = dt² Σ_k [ conj(β inv1²)·G1 + β inv2²·conj(G3) ],   G1 = Σ_s v̄_sn g_sk,  G3 = Σ_s v_sn g_sk
 *   ∂ℒ/∂dt = Σ_{n,k} Re[ conj(G1)·(inv1 + dt β λ inv1²) + conj(G3)·(inv2 + dt β λ̄ inv2²) ]
 * (∂inv1/∂λ = β dt inv1², ∂inv1/∂dt = β λ inv1², and the leading factor dt gives the inv terms.)
 */
export function cauchyConjBackward(
  vRe: Float64Array,
  vIm: Float64Array,
  lamRe: Float64Array,
  lamIm: Float64Array,
  dt: number,
  nodes: BilinearNodes,
  gRe: Float64Array,
  gIm: Float64Array,
): CauchyGrads {
  const M = lamRe.length;
  checkSizes(vRe, vIm, M);
  const { K, aRe, aIm, bRe, bIm } = nodes;
  const gvRe = new Float64Array(CAUCHY_SUMS * M),
    gvIm = new Float64Array(CAUCHY_SUMS * M);
  const glRe = new Float64Array(M),
    glIm = new Float64Array(M);
  const K2 = 2 * K,
    K3 = 3 * K;
  let gdt = 0;
  for (let n = 0; n < M; n++) {
    const wr = dt * lamRe[n]!,
      wi = dt * lamIm[n]!;
    const v0r = vRe[n]!,
      v0i = vIm[n]!,
      v1r = vRe[M + n]!,
      v1i = vIm[M + n]!;
    const v2r = vRe[2 * M + n]!,
      v2i = vIm[2 * M + n]!,
      v3r = vRe[3 * M + n]!,
      v3i = vIm[3 * M + n]!;
    let a0r = 0,
      a0i = 0,
      a1r = 0,
      a1i = 0,
      a2r = 0,
      a2i = 0,
      a3r = 0,
      a3i = 0;
    let lamAccRe = 0,
      lamAccIm = 0,
      dtAcc = 0;
    for (let k = 0; k < K; k++) {
      const br = bRe[k]!,
        bi = bIm[k]!,
        ar = aRe[k]!,
        ai = aIm[k]!;
      const xr = br * wr,
        xi = br * wi,
        yr = bi * wr,
        yi = bi * wi;
      const d1r = ar - xr + yi,
        d1i = ai - xi - yr;
      const d2r = ar - xr - yi,
        d2i = ai + xi - yr;
      const m1 = 1 / (d1r * d1r + d1i * d1i),
        m2 = 1 / (d2r * d2r + d2i * d2i);
      const i1r = d1r * m1,
        i1i = -d1i * m1,
        i2r = d2r * m2,
        i2i = -d2i * m2;
      // conj(inv1)·g + inv2·conj(g) = (P·g_r + Q·g_i) + i(P'·g_i + Q'·g_r) with
      const pr = i1r + i2r,
        qi = i1i + i2i,
        pi = i1r - i2r,
        qr = i2i - i1i;
      const g0r = gRe[k]!,
        g0i = gIm[k]!,
        g1r = gRe[K + k]!,
        g1i = gIm[K + k]!;
      const g2r = gRe[K2 + k]!,
        g2i = gIm[K2 + k]!,
        g3r = gRe[K3 + k]!,
        g3i = gIm[K3 + k]!;
      a0r += pr * g0r + qi * g0i;
      a0i += pi * g0i + qr * g0r;
      a1r += pr * g1r + qi * g1i;
      a1i += pi * g1i + qr * g1r;
      a2r += pr * g2r + qi * g2i;
      a2i += pi * g2i + qr * g2r;
      a3r += pr * g3r + qi * g3i;
      a3i += pi * g3i + qr * g3r;
      // G1 = Σ v̄ g, G3 = Σ v g
      const G1r = v0r * g0r + v0i * g0i + v1r * g1r + v1i * g1i + v2r * g2r + v2i * g2i + v3r * g3r + v3i * g3i;
      const G1i = v0r * g0i - v0i * g0r + v1r * g1i - v1i * g1r + v2r * g2i - v2i * g2r + v3r * g3i - v3i * g3r;
      const G3r = v0r * g0r - v0i * g0i + v1r * g1r - v1i * g1i + v2r * g2r - v2i * g2i + v3r * g3r - v3i * g3i;
      const G3i = v0r * g0i + v0i * g0r + v1r * g1i + v1i * g1r + v2r * g2i + v2i * g2r + v3r * g3i + v3i * g3r;
      // inv² and β·inv²
      const s1r = i1r * i1r - i1i * i1i,
        s1i = 2 * i1r * i1i;
      const s2r = i2r * i2r - i2i * i2i,
        s2i = 2 * i2r * i2i;
      const t1r = br * s1r - bi * s1i,
        t1i = br * s1i + bi * s1r; // β inv1²
      const t2r = br * s2r - bi * s2i,
        t2i = br * s2i + bi * s2r; // β inv2²
      // conj(t1)·G1 + t2·conj(G3)
      lamAccRe += t1r * G1r + t1i * G1i + t2r * G3r + t2i * G3i;
      lamAccIm += t1r * G1i - t1i * G1r + t2i * G3r - t2r * G3i;
      // X1 = inv1 + dt·λ·t1, X2 = inv2 + dt·λ̄·t2; Re(conj(G1) X1) + Re(conj(G3) X2)
      const x1r = i1r + (wr * t1r - wi * t1i),
        x1i = i1i + (wr * t1i + wi * t1r);
      const x2r = i2r + (wr * t2r + wi * t2i),
        x2i = i2i + (wr * t2i - wi * t2r);
      dtAcc += G1r * x1r + G1i * x1i + G3r * x2r + G3i * x2i;
    }
    gvRe[n] = dt * a0r;
    gvIm[n] = dt * a0i;
    gvRe[M + n] = dt * a1r;
    gvIm[M + n] = dt * a1i;
    gvRe[2 * M + n] = dt * a2r;
    gvIm[2 * M + n] = dt * a2i;
    gvRe[3 * M + n] = dt * a3r;
    gvIm[3 * M + n] = dt * a3i;
    glRe[n] = dt * dt * lamAccRe;
    glIm[n] = dt * dt * lamAccIm;
    gdt += dtAcc;
  }
  return { vRe: gvRe, vIm: gvIm, lamRe: glRe, lamIm: glIm, dt: gdt };
}
