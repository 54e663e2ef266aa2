/**
 * The wasm (SIMD) engine of the long convolution: same algorithm as conv-js.ts, with each channel's
 * loop over batch pairs (FFT, spectrum products, inverse FFT) inside host/assembly/ssm-core.ts.
 * JS lays out one wasm memory per call: plan (twiddles) | work | kernel spectrum | dk' accumulator |
 * this channel's saved spectra | input rows | output rows | per-row active, d, dd | the float32 tensors.
 * Saved spectra are copied out to the ConvSaved arrays per channel (they must outlive the call).
 * Float32 tensors (the tfjs path) are transposed in wasm; float64 ones by conv-layout.ts.
 */
import { SSM_CORE_WASM_BASE64 } from './wasm-bytes.js';
import { circularKernel, type ConvEngine, type ConvSaved } from './conv-engine.js';
import { fromChannelRows, toChannelRows } from './conv-layout.js';
import type { Real } from './s4d.js';

interface CoreExports {
  kernelSpectrum(kRe: number, kIm: number, n: number, len: number, plan: number): void;
  forwardChannel(
    rows: number, yRows: number, B: number, L: number, n: number, plan: number, work: number,
    kRe: number, kIm: number, sRe: number, sIm: number, f32: number,
  ): void;
  backwardChannel(
    dyRows: number, duRows: number, B: number, L: number, n: number, plan: number, work: number,
    kRe: number, kIm: number, sRe: number, sIm: number, f32: number, accRe: number, accIm: number,
  ): void;
  inverseInPlace(re: number, im: number, n: number, plan: number, head: number): void;
  gatherRows(x: number, rows: number, active: number, A: number, B: number, L: number, H: number, u: number, dd: number): void;
  scatterRows(rows: number, x: number, d: number, out: number, active: number, A: number, B: number, L: number, H: number): void;
}

/** The part of the WebAssembly JS API used here (the Node typings in use do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface Core {
  exports: CoreExports;
  memory: WasmMemory;
}

let core: Core | null | undefined;
/** Why the wasm engine is unavailable (when it is). */
export let wasmUnavailableReason = '';

function loadCore(): Core | null {
  if (core !== undefined) return core;
  try {
    if (!wasmApi) throw new Error('no WebAssembly in this runtime');
    const memory = new wasmApi.Memory({ initial: 1 });
    const module = new wasmApi.Module(Buffer.from(SSM_CORE_WASM_BASE64, 'base64'));
    const instance = new wasmApi.Instance(module, { env: { memory } });
    core = { exports: instance.exports as unknown as CoreExports, memory };
  } catch (err) {
    wasmUnavailableReason = err instanceof Error ? err.message : String(err);
    core = null;
  }
  return core;
}

/** The wasm engine handles FFT sizes from 16 up (and needs WebAssembly SIMD). */
export function wasmAvailable(n: number): boolean {
  return n >= 16 && loadCore() !== null;
}

const plans = new Map<number, Float64Array>();

/** twRe[n] twIm[n] tw3Re[n/2] tw3Im[n/2] as ssm-core.ts expects (same tables as fft.ts). */
function plan(n: number): Float64Array {
  let p = plans.get(n);
  if (p) return p;
  p = new Float64Array(3 * n);
  for (let h = 1; h < n; h <<= 1) {
    for (let j = 0; j < h; j++) {
      p[h + j] = Math.cos((-Math.PI * j) / h);
      p[n + h + j] = Math.sin((-Math.PI * j) / h);
    }
  }
  for (let q = 1; 4 * q <= n; q <<= 1) {
    for (let j = 0; j < q; j++) {
      const angle = (-2 * Math.PI * 3 * j) / (4 * q);
      p[2 * n + q + j] = Math.cos(angle);
      p[2 * n + n / 2 + q + j] = Math.sin(angle);
    }
  }
  plans.set(n, p);
  return p;
}

interface Layout {
  plan: number;
  work: number;
  kRe: number;
  kIm: number;
  accRe: number;
  accIm: number;
  sRe: number;
  sIm: number;
  rows: number;
  out: number;
  active: number;
  d: number;
  dd: number;
  /** float32 tensors [B, L, H]: x (u or dy), u (backward, for dd), y (y or du) */
  x: number;
  u: number;
  y: number;
  f64: Float64Array;
  f32: Float32Array;
}

/** Byte offsets (16-aligned) of every region for one call; grows the memory as needed. */
function layout(c: Core, saved: ConvSaved, tensors: number): Layout {
  const { n } = saved;
  const { B, L, H } = saved.dims;
  const A = saved.active.length;
  const pairs = (B + 1) >> 1;
  const specBytes = saved.uRe instanceof Float32Array ? 4 : 8;
  let at = 0;
  const take = (bytes: number) => {
    const start = at;
    at += Math.ceil(bytes / 16) * 16;
    return start;
  };
  const l = {
    plan: take(3 * n * 8),
    work: take(2 * n * 8),
    kRe: take(n * 8),
    kIm: take(n * 8),
    accRe: take(n * 8),
    accIm: take(n * 8),
    sRe: take(pairs * n * specBytes),
    sIm: take(pairs * n * specBytes),
    rows: take(A * B * L * 8),
    out: take(A * B * L * 8),
    active: take(A * 4),
    d: take(A * 8),
    dd: take(A * 8),
    x: take(tensors > 0 ? B * L * H * 4 : 0),
    u: take(tensors > 1 ? B * L * H * 4 : 0),
    y: take(tensors > 0 ? B * L * H * 4 : 0),
  };
  const have = c.memory.buffer.byteLength;
  if (at > have) c.memory.grow(Math.ceil((at - have) / 65536));
  const f64 = new Float64Array(c.memory.buffer);
  f64.set(plan(n), l.plan / 8);
  new Int32Array(c.memory.buffer).set(saved.active, l.active / 4);
  for (let r = 0; r < A; r++) f64[l.d / 8 + r] = saved.d[saved.active[r]!]!;
  return { ...l, f64, f32: new Float32Array(c.memory.buffer) };
}

function spectraViews(m: Layout, saved: ConvSaved, count: number): [Float32Array | Float64Array, Float32Array | Float64Array] {
  if (saved.uRe instanceof Float32Array) {
    return [m.f32.subarray(m.sRe / 4, m.sRe / 4 + count), m.f32.subarray(m.sIm / 4, m.sIm / 4 + count)];
  }
  return [m.f64.subarray(m.sRe / 8, m.sRe / 8 + count), m.f64.subarray(m.sIm / 8, m.sIm / 8 + count)];
}

/** Float32 tensors get transposed in wasm; anything else goes through the JS layout code. */
function allF32(...xs: Real[]): boolean {
  return xs.every((x) => x instanceof Float32Array);
}

export const wasmEngine: ConvEngine = {
  name: 'wasm',

  forward(saved, k, y) {
    const c = loadCore()!;
    const { n, dirs, active, u, d, dims } = saved;
    const { B, L, H } = dims;
    const A = active.length;
    const pairs = (B + 1) >> 1;
    const f32Tensors = allF32(u, y);
    const m = layout(c, saved, f32Tensors ? 1 : 0);
    const size = B * L * H;
    if (f32Tensors) {
      m.f32.set(u, m.x / 4);
      c.exports.gatherRows(m.x, m.rows, m.active, A, B, L, H, 0, 0);
    } else {
      toChannelRows(u, m.f64.subarray(m.rows / 8, m.rows / 8 + A * B * L), active, dims);
    }
    const kRe = m.f64.subarray(m.kRe / 8, m.kRe / 8 + n);
    const kIm = m.f64.subarray(m.kIm / 8, m.kIm / 8 + n);
    const spec = pairs * n;
    const [sRe, sIm] = spectraViews(m, saved, spec);
    const f32Spectra = saved.uRe instanceof Float32Array ? 1 : 0;
    const rowBytes = B * L * 8;
    for (let r = 0; r < A; r++) {
      circularKernel(k, r, A, L, dirs, kRe, kIm);
      c.exports.kernelSpectrum(m.kRe, m.kIm, n, dirs === 1 ? L : 0, m.plan);
      saved.kRe.set(kRe, r * n);
      saved.kIm.set(kIm, r * n);
      c.exports.forwardChannel(
        m.rows + r * rowBytes, m.out + r * rowBytes, B, L, n, m.plan, m.work, m.kRe, m.kIm, m.sRe, m.sIm, f32Spectra,
      );
      saved.uRe.set(sRe, r * spec);
      saved.uIm.set(sIm, r * spec);
    }
    if (f32Tensors) {
      // Bypassed channels keep u: start from a copy, then overwrite the active ones.
      if (A < H) m.f32.copyWithin(m.y / 4, m.x / 4, m.x / 4 + size);
      c.exports.scatterRows(m.out, m.x, m.d, m.y, m.active, A, B, L, H);
      y.set(m.f32.subarray(m.y / 4, m.y / 4 + size));
    } else {
      fromChannelRows(m.f64.subarray(m.out / 8, m.out / 8 + A * B * L), u, d, y, active, dims);
    }
  },

  backward(saved, dy, duOut, dk, dd) {
    const c = loadCore()!;
    const { n, dirs, active, u, d, dims } = saved;
    const { B, L, H } = dims;
    const A = active.length;
    const pairs = (B + 1) >> 1;
    const f32Tensors = allF32(dy, u, duOut);
    const m = layout(c, saved, f32Tensors ? 2 : 0);
    const size = B * L * H;
    if (f32Tensors) {
      m.f32.set(dy, m.x / 4);
      m.f32.set(u, m.u / 4);
      m.f64.fill(0, m.dd / 8, m.dd / 8 + A);
      c.exports.gatherRows(m.x, m.rows, m.active, A, B, L, H, m.u, m.dd);
      for (let r = 0; r < A; r++) dd[active[r]!] = m.f64[m.dd / 8 + r]!;
    } else {
      toChannelRows(dy, m.f64.subarray(m.rows / 8, m.rows / 8 + A * B * L), active, dims, u, dd);
    }
    const spec = pairs * n;
    const [sRe, sIm] = spectraViews(m, saved, spec);
    const f32Spectra = saved.uRe instanceof Float32Array ? 1 : 0;
    const acc = m.f64.subarray(m.accRe / 8, m.accRe / 8 + n);
    const rowBytes = B * L * 8;
    const invN = 1 / n;
    for (let r = 0; r < A; r++) {
      m.f64.set(saved.kRe.subarray(r * n, (r + 1) * n), m.kRe / 8);
      m.f64.set(saved.kIm.subarray(r * n, (r + 1) * n), m.kIm / 8);
      sRe.set(saved.uRe.subarray(r * spec, (r + 1) * spec));
      sIm.set(saved.uIm.subarray(r * spec, (r + 1) * spec));
      c.exports.backwardChannel(
        m.rows + r * rowBytes, m.out + r * rowBytes, B, L, n, m.plan, m.work, m.kRe, m.kIm, m.sRe, m.sIm, f32Spectra,
        m.accRe, m.accIm,
      );
      c.exports.inverseInPlace(m.accRe, m.accIm, n, m.plan, dirs === 1 ? 1 : 0);
      for (let l = 0; l < L; l++) dk[r * L + l] = acc[l]! * invN;
      if (dirs === 2) for (let l = 0; l < L; l++) dk[(A + r) * L + l] = acc[n - 1 - l]! * invN;
    }
    if (f32Tensors) {
      if (A < H) m.f32.copyWithin(m.y / 4, m.x / 4, m.x / 4 + size);
      c.exports.scatterRows(m.out, m.x, m.d, m.y, m.active, A, B, L, H);
      duOut.set(m.f32.subarray(m.y / 4, m.y / 4 + size));
    } else {
      fromChannelRows(m.f64.subarray(m.out / 8, m.out / 8 + A * B * L), dy, d, duOut, active, dims);
    }
  },
};
