/**
 * S4D (diagonal state space, Gu et al. 2022) in float64: parameters, initialisation, the convolution
 * kernel with its hand-derived backward pass, the step (recurrent) form. Typed-array code; the tfjs ops
 * wrap it. The O(A·M·L) loops over mode powers run in wasm SIMD (kernel-wasm.ts) or, as engine 'js', here.
 *
 * Layout (per layer, H = d_model channels, M = d_state/2 complex modes per channel):
 *   logDt [H], logAReal [H·M], aImag [H·M], cRe/cIm [dirs·H·M] with dirs = 1 (causal) or 2
 *   (bidirectional: rows 0..H−1 the forward C, rows H..2H−1 the backward C; A and dt are shared,
 *   as in the state-spaces code where C has shape (channels=2, H, N/2)).
 * A = −exp(logAReal) + i·aImag, dt = exp(logDt), zero-order hold with B folded into C:
 *   z = exp(dt·A), C' = C·(z − 1)/A,  K[h, l] = 2·Re Σ_m C'[h, m]·z[h, m]^l,  l = 0..L−1.
 */
import { Rng } from '../../util/random.js';
import { kernelWasmAvailable, wasmKernelForward, wasmKernelSums } from '../wasm/s4d-kernel.js';

export type Real = Float32Array | Float64Array;

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

export interface S4DGrads {
  logDt: Float64Array;
  logAReal: Float64Array;
  aImag: Float64Array;
  cRe: Float64Array;
  cIm: Float64Array;
}

/** Work counters, so tests can prove that bypassed channels cost nothing. */
export const ssmWork = { kernelChannels: 0, kernelBackwardChannels: 0 };

/** Number of C directions (1 causal, 2 bidirectional); validates every array's length. */
export function s4dDirections(p: S4DValues): 1 | 2 {
  const { H, M } = p;
  if (!Number.isInteger(H) || H < 1) throw new Error(`S4D: d_model H must be a positive integer, got ${H}`);
  if (!Number.isInteger(M) || M < 1) throw new Error(`S4D: modes per channel M must be a positive integer, got ${M}`);
  if (p.logDt.length !== H) throw new Error(`S4D: logDt has ${p.logDt.length} values, expected H = ${H}`);
  for (const [name, a] of [['logAReal', p.logAReal], ['aImag', p.aImag]] as const) {
    if (a.length !== H * M) throw new Error(`S4D: ${name} has ${a.length} values, expected H·M = ${H * M}`);
  }
  if (p.cIm.length !== p.cRe.length) throw new Error(`S4D: cRe and cIm differ in length (${p.cRe.length} vs ${p.cIm.length})`);
  if (p.cRe.length === H * M) return 1;
  if (p.cRe.length === 2 * H * M) return 2;
  throw new Error(`S4D: C has ${p.cRe.length} values, expected H·M = ${H * M} or 2·H·M = ${2 * H * M} (bidirectional)`);
}

/** Checks that `active` is a strictly increasing list of channel indices in [0, H). */
export function checkActive(active: Int32Array, H: number): void {
  if (!(active instanceof Int32Array)) throw new Error('active channels must be an Int32Array');
  let prev = -1;
  for (let i = 0; i < active.length; i++) {
    const h = active[i]!;
    if (h < 0 || h >= H) throw new Error(`active channel ${h} out of range [0, ${H})`);
    if (h <= prev) throw new Error(`active channels must be sorted and unique (got ${prev} then ${h})`);
    prev = h;
  }
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
  if (!Number.isInteger(N) || N < 2 || N % 2 !== 0) throw new Error(`initS4D: d_state must be an even integer ≥ 2, got ${N}`);
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

/**
 * Kernel rows of the active channels: [dirs·active.length, L], forward rows first (row r = channel
 * active[r]), then the backward rows (row A + r) when bidirectional.
 */
export function s4dKernelForward(p: S4DValues, L: number, active: Int32Array, opts: KernelOptions = {}): Float64Array {
  const dirs = s4dDirections(p);
  checkLength(L);
  checkActive(active, p.H);
  const { M } = p;
  const A = active.length;
  ssmWork.kernelChannels += A;
  const modes = modeTable(p, active, dirs);
  if (useWasm(A, M, L, dirs, opts.engine)) return wasmKernelForward(modes, A, M, L, dirs);
  const out = new Float64Array(dirs * A * L);
  const rec = 2 + 2 * dirs;
  for (let r = 0; r < A; r++) {
    for (let m = 0; m < M; m++) {
      const t = (r * M + m) * rec;
      for (let d = 0; d < dirs; d++) {
        addModePowers(out, (d * A + r) * L, L, modes[t + 2 + 2 * d]!, modes[t + 3 + 2 * d]!, modes[t]!, modes[t + 1]!);
      }
    }
  }
  return out;
}

export interface KernelOptions {
  /** 'wasm' (SIMD, threads; the default where available) or the portable 'js' loops. */
  engine?: 'wasm' | 'js';
}

function useWasm(A: number, M: number, L: number, dirs: number, engine?: 'wasm' | 'js'): boolean {
  if (engine === 'js') return false;
  const ok = kernelWasmAvailable(A, M, L, dirs);
  if (!ok && engine === 'wasm') throw new Error('S4D kernel: the wasm engine is unavailable (no WebAssembly SIMD?)');
  return ok;
}

/**
 * Per active row r and mode m, a record of 2 + 2·dirs values: z = exp(dt·A), then C' = C·(z − 1)/A for
 * each direction (B folded into C, zero-order hold).
 */
function modeTable(p: S4DValues, active: Int32Array, dirs: number): Float64Array {
  const { H, M } = p;
  const rec = 2 + 2 * dirs;
  const table = new Float64Array(active.length * M * rec);
  for (let r = 0; r < active.length; r++) {
    const h = active[r]!;
    const dt = Math.exp(p.logDt[h]!);
    for (let m = 0; m < M; m++) {
      const i = h * M + m;
      const mode = zoh(-Math.exp(p.logAReal[i]!), p.aImag[i]!, dt);
      const t = (r * M + m) * rec;
      table[t] = mode.zr;
      table[t + 1] = mode.zi;
      for (let d = 0; d < dirs; d++) {
        const cr = p.cRe[d * H * M + i]!;
        const ci = p.cIm[d * H * M + i]!;
        table[t + 2 + 2 * d] = cr * mode.fr - ci * mode.fi;
        table[t + 3 + 2 * d] = cr * mode.fi + ci * mode.fr;
      }
    }
  }
  return table;
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
export function s4dKernelBackward(p: S4DValues, L: number, active: Int32Array, dK: Real, opts: KernelOptions = {}): S4DGrads {
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
        const s0r = sums[at]!, s0i = sums[at + 1]!, s1r = sums[at + 2]!, s1i = sums[at + 3]!;
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
 * out[row + l] += 2·Re(c·z^l) for l < L. Four independent chains (powers l ≡ 0..3 mod 4, each stepped
 * by z⁴) instead of one: the loop is bound by the latency of the complex multiply, not its throughput.
 */
function addModePowers(out: Float64Array, row: number, L: number, cr: number, ci: number, zr: number, zi: number): void {
  const z2r = zr * zr - zi * zi;
  const z2i = 2 * zr * zi;
  const z4r = z2r * z2r - z2i * z2i;
  const z4i = 2 * z2r * z2i;
  let w0r = cr, w0i = ci;
  let w1r = cr * zr - ci * zi, w1i = cr * zi + ci * zr;
  let w2r = cr * z2r - ci * z2i, w2i = cr * z2i + ci * z2r;
  let w3r = w1r * z2r - w1i * z2i, w3i = w1r * z2i + w1i * z2r;
  let l = 0;
  for (; l + 3 < L; l += 4) {
    const o = row + l;
    out[o]! += 2 * w0r;
    out[o + 1]! += 2 * w1r;
    out[o + 2]! += 2 * w2r;
    out[o + 3]! += 2 * w3r;
    let t = w0r * z4r - w0i * z4i;
    w0i = w0r * z4i + w0i * z4r;
    w0r = t;
    t = w1r * z4r - w1i * z4i;
    w1i = w1r * z4i + w1i * z4r;
    w1r = t;
    t = w2r * z4r - w2i * z4i;
    w2i = w2r * z4i + w2i * z4r;
    w2r = t;
    t = w3r * z4r - w3i * z4i;
    w3i = w3r * z4i + w3i * z4r;
    w3r = t;
  }
  const tail = [w0r, w1r, w2r];
  for (let i = 0; l < L; l++, i++) out[row + l]! += 2 * tail[i]!;
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
  let p0r = 1, p0i = 0;
  let p1r = zr, p1i = zi;
  let p2r = z2r, p2i = z2i;
  let p3r = zr * z2r - zi * z2i, p3i = zr * z2i + zi * z2r;
  let a0r = 0, a0i = 0, a1r = 0, a1i = 0, a2r = 0, a2i = 0, a3r = 0, a3i = 0;
  let b0r = 0, b0i = 0, b1r = 0, b1i = 0, b2r = 0, b2i = 0, b3r = 0, b3i = 0;
  let l = 0;
  for (; l + 3 < L; l += 4) {
    const k0 = dK[row + l]!, k1 = dK[row + l + 1]!, k2 = dK[row + l + 2]!, k3 = dK[row + l + 3]!;
    a0r += k0 * p0r; a0i += k0 * p0i; b0r += k0 * l * p0r; b0i += k0 * l * p0i;
    a1r += k1 * p1r; a1i += k1 * p1i; b1r += k1 * (l + 1) * p1r; b1i += k1 * (l + 1) * p1i;
    a2r += k2 * p2r; a2i += k2 * p2i; b2r += k2 * (l + 2) * p2r; b2i += k2 * (l + 2) * p2i;
    a3r += k3 * p3r; a3i += k3 * p3i; b3r += k3 * (l + 3) * p3r; b3i += k3 * (l + 3) * p3i;
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

interface Mode {
  /** z = exp(dt·A) */
  zr: number;
  zi: number;
  /** f = (z − 1)/A (the ZOH input factor, B = 1) */
  fr: number;
  fi: number;
}

function zoh(aRe: number, aIm: number, dt: number): Mode {
  const mag = Math.exp(dt * aRe);
  const zr = mag * Math.cos(dt * aIm);
  const zi = mag * Math.sin(dt * aIm);
  // (z − 1)/A; z − 1 via expm1 keeps precision when dt·|A| is tiny.
  const em1r = Math.expm1(dt * aRe) * Math.cos(dt * aIm) - 2 * Math.sin((dt * aIm) / 2) ** 2;
  const em1i = zi;
  const [invR, invI] = cinv(aRe, aIm);
  return { zr, zi, fr: em1r * invR - em1i * invI, fi: em1r * invI + em1i * invR };
}

function cinv(re: number, im: number): [number, number] {
  const d = re * re + im * im;
  if (d === 0) throw new Error('S4D: A = 0 has no ZOH factor (logAReal = −∞?)');
  return [re / d, -im / d];
}

function checkLength(L: number): void {
  if (!Number.isInteger(L) || L < 1) throw new Error(`S4D kernel length L must be a positive integer, got ${L}`);
}

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
