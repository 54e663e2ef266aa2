/**
 * The S4D convolution kernel in float64 (typed-array code; op.ts wraps it as a tfjs op). The O(A·M·L)
 * loop over mode powers runs in wasm SIMD (../wasm/s4d-kernel.ts) or, as engine 'js', here.
 *
 * With the layout of params.ts, zero-order hold with B folded into C:
 *   z = exp(dt·A), C' = C·(z − 1)/A,  K[h, l] = 2·Re Σ_m C'[h, m]·z[h, m]^l,  l = 0..L−1.
 */
import { checkActive } from '../channels.js';
import { kernelWasmAvailable, wasmKernelForward } from '../wasm/s4d-kernel.js';
import { s4dDirections, type S4DValues } from './params.js';

/** Work counters, so tests can prove that bypassed channels cost nothing. */
export const ssmWork = { kernelChannels: 0, kernelBackwardChannels: 0 };

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

/** Whether a call runs in wasm: by default where available; engine 'wasm' without it is an error. */
export function useWasm(A: number, M: number, L: number, dirs: number, engine?: 'wasm' | 'js'): boolean {
  if (engine === 'js') return false;
  const ok = kernelWasmAvailable(A, M, L, dirs);
  if (!ok && engine === 'wasm') throw new Error('S4D kernel: the wasm engine is unavailable (no WebAssembly SIMD?)');
  return ok;
}

/**
 * Per active row r and mode m, a record of 2 + 2·dirs values: z = exp(dt·A), then C' = C·(z − 1)/A for
 * each direction (B folded into C, zero-order hold).
 */
export function modeTable(p: S4DValues, active: Int32Array, dirs: number): Float64Array {
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
 * out[row + l] += 2·Re(c·z^l) for l < L. Four independent chains (powers l ≡ 0..3 mod 4, each stepped
 * by z⁴) instead of one: the loop is bound by the latency of the complex multiply, not its throughput.
 */
function addModePowers(
  out: Float64Array,
  row: number,
  L: number,
  cr: number,
  ci: number,
  zr: number,
  zi: number,
): void {
  const z2r = zr * zr - zi * zi;
  const z2i = 2 * zr * zi;
  const z4r = z2r * z2r - z2i * z2i;
  const z4i = 2 * z2r * z2i;
  let w0r = cr,
    w0i = ci;
  let w1r = cr * zr - ci * zi,
    w1i = cr * zi + ci * zr;
  let w2r = cr * z2r - ci * z2i,
    w2i = cr * z2i + ci * z2r;
  let w3r = w1r * z2r - w1i * z2i,
    w3i = w1r * z2i + w1i * z2r;
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

export interface Mode {
  /** z = exp(dt·A) */
  zr: number;
  zi: number;
  /** f = (z − 1)/A (the ZOH input factor, B = 1) */
  fr: number;
  fi: number;
}

/** One mode's zero-order hold: z = exp(dt·A) and f = (z − 1)/A (the step form's dA and dB, discrete.ts). */
export function zoh(aRe: number, aIm: number, dt: number): Mode {
  const mag = Math.exp(dt * aRe);
  const zr = mag * Math.cos(dt * aIm);
  const zi = mag * Math.sin(dt * aIm);
  // (z − 1)/A; z − 1 via expm1 keeps precision when dt·|A| is tiny.
  const em1r = Math.expm1(dt * aRe) * Math.cos(dt * aIm) - 2 * Math.sin((dt * aIm) / 2) ** 2;
  const em1i = zi;
  const [invR, invI] = cinv(aRe, aIm);
  return { zr, zi, fr: em1r * invR - em1i * invI, fi: em1r * invI + em1i * invR };
}

/** 1/A for a complex A ≠ 0. */
export function cinv(re: number, im: number): [number, number] {
  const d = re * re + im * im;
  if (d === 0) throw new Error('S4D: A = 0 has no ZOH factor (logAReal = −∞?)');
  return [re / d, -im / d];
}

/** The kernel length L must be a positive integer. */
export function checkLength(L: number): void {
  if (!Number.isInteger(L) || L < 1) throw new Error(`S4D kernel length L must be a positive integer, got ${L}`);
}
