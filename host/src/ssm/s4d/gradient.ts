/**
 * Backward pass of the S4D kernel (kernel.ts), derived by hand in float64; the O(A·M·L) sums run in wasm
 * SIMD (../wasm/s4d-kernel.ts) or, as engine 'js', here.
 */
import { checkActive, type Real } from '../channels.js';
import { wasmKernelSums } from '../wasm/s4d-kernel.js';
import { checkLength, cinv, modeTable, ssmWork, useWasm, zoh, type KernelOptions } from './kernel.js';
import { s4dDirections, type S4DValues } from './params.js';

export interface S4DGrads {
  logDt: Float64Array;
  logAReal: Float64Array;
  aImag: Float64Array;
  cRe: Float64Array;
  cIm: Float64Array;
}

/**
 * Backward of s4dKernelForward: given dK [dirs·A, L] (same layout as the forward output), the gradient
 * of every parameter (full size; rows of inactive channels stay 0).
 *
 * Complex gradients use g_w = ∂ℒ/∂Re w + i·∂ℒ/∂Im w, so ℒ = Re(a·w) gives g_w = conj(a), and through a
 * holomorphic w = f(v): g_v = g_w·conj(f'(v)). With S0 = Σ_l dK[l]·z^l and S1 = Σ_l dK[l]·l·z^l:
 *   g_C'   = 2·conj(S0)                                   (per direction)
 *   g_dtA  = Σ_dir 2·conj(C'·S1)                          (z^l = exp(l·dtA), d/d dtA = l·z^l)
 *   g_C    = g_C'·conj((z − 1)/A)
 *   g_A    = dt·g_dtA + Σ_dir g_C'·conj(C·(dt·z/A − (z − 1)/A²))
 *   ∂ℒ/∂dt = Σ_m Re(conj(g_dtA)·A) + Σ_dir Re(conj(g_C')·C·z)      (∂C'/∂dt = C·z)
 *   ∂ℒ/∂logDt = dt·∂ℒ/∂dt;  ∂ℒ/∂logAReal = −exp(logAReal)·Re g_A;  ∂ℒ/∂aImag = Im g_A.
 */
export function s4dKernelBackward(
  p: S4DValues,
  L: number,
  active: Int32Array,
  dK: Real,
  opts: KernelOptions = {},
): S4DGrads {
  const dirs = s4dDirections(p);
  checkLength(L);
  checkActive(active, p.H);
  const { H, M } = p;
  const A = active.length;
  if (dK.length !== dirs * A * L) {
    throw new Error(`S4D kernel backward: dK has ${dK.length} values, expected ${dirs}·${A}·${L} = ${dirs * A * L}`);
  }
  const g: S4DGrads = {
    logDt: new Float64Array(H),
    logAReal: new Float64Array(H * M),
    aImag: new Float64Array(H * M),
    cRe: new Float64Array(dirs * H * M),
    cIm: new Float64Array(dirs * H * M),
  };
  ssmWork.kernelBackwardChannels += A;
  // S0, S1 for every (row, mode, direction): the O(A·M·L) part, in wasm or in JS.
  const modes = modeTable(p, active, dirs);
  let sums: Float64Array;
  if (useWasm(A, M, L, dirs, opts.engine)) {
    sums = wasmKernelSums(modes, A, M, L, dirs, dK);
  } else {
    sums = new Float64Array(A * M * dirs * 4);
    const rec = 2 + 2 * dirs;
    const one = new Float64Array(4);
    for (let r = 0; r < A; r++) {
      for (let m = 0; m < M; m++) {
        for (let d = 0; d < dirs; d++) {
          modeSums(dK, (d * A + r) * L, L, modes[(r * M + m) * rec]!, modes[(r * M + m) * rec + 1]!, one);
          sums.set(one, ((r * M + m) * dirs + d) * 4);
        }
      }
    }
  }
  for (let r = 0; r < A; r++) {
    const h = active[r]!;
    const dt = Math.exp(p.logDt[h]!);
    let dLdt = 0;
    for (let m = 0; m < M; m++) {
      const i = h * M + m;
      const aRe = -Math.exp(p.logAReal[i]!);
      const aIm = p.aImag[i]!;
      const mode = zoh(aRe, aIm, dt);
      const { zr, zi, fr, fi } = mode;
      // ∂C'/∂A / C = dt·z/A − (z − 1)/A² = (dt·z − f)/A with f = (z − 1)/A.
      const [invR, invI] = cinv(aRe, aIm);
      const nr = dt * zr - fr;
      const ni = dt * zi - fi;
      const qr = nr * invR - ni * invI;
      const qi = nr * invI + ni * invR;
      let gdtaR = 0;
      let gdtaI = 0;
      let gaR = 0;
      let gaI = 0;
      for (let d = 0; d < dirs; d++) {
        const at = ((r * M + m) * dirs + d) * 4;
        const s0r = sums[at]!,
          s0i = sums[at + 1]!,
          s1r = sums[at + 2]!,
          s1i = sums[at + 3]!;
        const c = d * H * M + i;
        const cr = p.cRe[c]!;
        const ci = p.cIm[c]!;
        const cpr = cr * fr - ci * fi;
        const cpi = cr * fi + ci * fr;
        // g_C' = 2·conj(S0)
        const gcpR = 2 * s0r;
        const gcpI = -2 * s0i;
        // g_dtA += 2·conj(C'·S1)
        gdtaR += 2 * (cpr * s1r - cpi * s1i);
        gdtaI -= 2 * (cpr * s1i + cpi * s1r);
        // g_C = g_C'·conj(f)
        g.cRe[c] = gcpR * fr + gcpI * fi;
        g.cIm[c] = gcpI * fr - gcpR * fi;
        // g_A += g_C'·conj(C·q)
        const cqR = cr * qr - ci * qi;
        const cqI = cr * qi + ci * qr;
        gaR += gcpR * cqR + gcpI * cqI;
        gaI += gcpI * cqR - gcpR * cqI;
        // ∂ℒ/∂dt += Re(conj(g_C')·C·z)
        const czR = cr * zr - ci * zi;
        const czI = cr * zi + ci * zr;
        dLdt += gcpR * czR + gcpI * czI;
      }
      gaR += dt * gdtaR;
      gaI += dt * gdtaI;
      dLdt += gdtaR * aRe + gdtaI * aIm;
      g.logAReal[i] = aRe * gaR; // ∂A_re/∂logAReal = −exp(logAReal) = aRe
      g.aImag[i] = gaI;
    }
    g.logDt[h] = dt * dLdt;
  }
  return g;
}

/**
 * sums ← [Re S0, Im S0, Re S1, Im S1] with S0 = Σ_l dK[row + l]·z^l and S1 = Σ_l dK[row + l]·l·z^l,
 * in four independent chains like addModePowers.
 */
function modeSums(dK: Real, row: number, L: number, zr: number, zi: number, sums: Float64Array): void {
  const z2r = zr * zr - zi * zi;
  const z2i = 2 * zr * zi;
  const z4r = z2r * z2r - z2i * z2i;
  const z4i = 2 * z2r * z2i;
  let p0r = 1,
    p0i = 0;
  let p1r = zr,
    p1i = zi;
  let p2r = z2r,
    p2i = z2i;
  let p3r = zr * z2r - zi * z2i,
    p3i = zr * z2i + zi * z2r;
  let a0r = 0,
    a0i = 0,
    a1r = 0,
    a1i = 0,
    a2r = 0,
    a2i = 0,
    a3r = 0,
    a3i = 0;
  let b0r = 0,
    b0i = 0,
    b1r = 0,
    b1i = 0,
    b2r = 0,
    b2i = 0,
    b3r = 0,
    b3i = 0;
  let l = 0;
  for (; l + 3 < L; l += 4) {
    const k0 = dK[row + l]!,
      k1 = dK[row + l + 1]!,
      k2 = dK[row + l + 2]!,
      k3 = dK[row + l + 3]!;
    a0r += k0 * p0r;
    a0i += k0 * p0i;
    b0r += k0 * l * p0r;
    b0i += k0 * l * p0i;
    a1r += k1 * p1r;
    a1i += k1 * p1i;
    b1r += k1 * (l + 1) * p1r;
    b1i += k1 * (l + 1) * p1i;
    a2r += k2 * p2r;
    a2i += k2 * p2i;
    b2r += k2 * (l + 2) * p2r;
    b2i += k2 * (l + 2) * p2i;
    a3r += k3 * p3r;
    a3i += k3 * p3i;
    b3r += k3 * (l + 3) * p3r;
    b3i += k3 * (l + 3) * p3i;
    let t = p0r * z4r - p0i * z4i;
    p0i = p0r * z4i + p0i * z4r;
    p0r = t;
    t = p1r * z4r - p1i * z4i;
    p1i = p1r * z4i + p1i * z4r;
    p1r = t;
    t = p2r * z4r - p2i * z4i;
    p2i = p2r * z4i + p2i * z4r;
    p2r = t;
    t = p3r * z4r - p3i * z4i;
    p3i = p3r * z4i + p3i * z4r;
    p3r = t;
  }
  const tr = [p0r, p1r, p2r];
  const ti = [p0i, p1i, p2i];
  for (let i = 0; l < L; l++, i++) {
    const k = dK[row + l]!;
    a0r += k * tr[i]!;
    a0i += k * ti[i]!;
    b0r += k * l * tr[i]!;
    b0i += k * l * ti[i]!;
  }
  sums[0] = a0r + a1r + a2r + a3r;
  sums[1] = a0i + a1i + a2i + a3i;
  sums[2] = b0r + b1r + b2r + b3r;
  sums[3] = b0i + b1i + b2i + b3i;
}
