/**
 * The wasm (SIMD) engine of the long convolution: same algorithm as engine-js.ts, with the per-channel
 * work (kernel spectrum, FFTs, spectrum products) in host/assembly/ssm-core.ts, split over threads by
 * channel ranges (../wasm/wasm-core.ts). Float32 tensors with float32 saved spectra (the tfjs op) run in
 * single precision (f32x4 lanes; float32 FFT rounding, ~1e-6 relative); anything else in double precision.
 * JS lays out the shared wasm memory per call:
 *   plan (twiddles) | kernel rows | kernel spectra [A, n] | pair spectra [A, pairs, n] | input rows |
 *   output rows | active, d | dk | per thread: work, acc, dd | float32 tensors x, u, y
 * and copies the spectra out to the ConvSaved arrays (which must outlive the call) and back in for the
 * backward pass. Float32 tensors (the tfjs path) are transposed in wasm (split by batch ranges);
 * float64 ones by layout.ts.
 */
import type { ConvEngine, ConvSaved } from './engine.js';
import { fromChannelRows, toChannelRows } from './layout.js';
import type { Real } from '../channels.js';
import { loadCore, MAX_BYTES, runParallel, splitRange, threadsFor, type Core, type Job } from '../wasm/wasm-core.js';

/** The wasm engine handles FFT sizes from 16 up (and needs WebAssembly SIMD and shared memory). */
export function wasmAvailable(n: number): boolean {
  return n >= 16 && loadCore() !== null;
}

/** Whether one call of this size fits the module's 2 GiB memory (else the JS engine takes it). */
export function wasmFits(saved: Pick<ConvSaved, 'n' | 'dims' | 'active' | 'dirs'>, f32Spectra: boolean): boolean {
  return regions(saved, f32Spectra, false, 8).end < MAX_BYTES;
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

interface Regions {
  plan: number;
  kRows: number;
  kSpec: number;
  spec: number;
  rows: number;
  out: number;
  active: number;
  d: number;
  dk: number;
  /** per thread: work (2n f64), acc (2n f64), dd (A f64) */
  work: number[];
  acc: number[];
  dd: number[];
  x: number;
  u: number;
  y: number;
  end: number;
}

/** Region sizes; `single`: FFT data, rows and scratch in f32 (else f64). */
function regions(
  saved: Pick<ConvSaved, 'n' | 'dims' | 'active' | 'dirs'>,
  f32Spectra: boolean,
  single: boolean,
  threads: number,
  tensors = 2,
): Regions {
  const { n, dirs } = saved;
  const { B, L, H } = saved.dims;
  const A = saved.active.length;
  const pairs = (B + 1) >> 1;
  const specBytes = f32Spectra ? 4 : 8;
  const e = single ? 4 : 8;
  let at = 0;
  const take = (bytes: number) => {
    const start = at;
    at += Math.ceil(bytes / 16) * 16;
    return start;
  };
  const r = {
    plan: take(3 * n * e),
    kRows: take(dirs * A * L * 8),
    kSpec: take(2 * A * n * e),
    spec: take(2 * A * pairs * n * specBytes),
    rows: take(A * B * L * e),
    out: take(A * B * L * e),
    active: take(A * 4),
    d: take(A * 8),
    dk: take(dirs * A * L * 8),
    work: [] as number[],
    acc: [] as number[],
    dd: [] as number[],
    x: 0,
    u: 0,
    y: 0,
    end: 0,
  };
  for (let t = 0; t < threads; t++) {
    r.work.push(take(2 * n * e));
    r.acc.push(take(2 * n * e));
    r.dd.push(take(A * 8));
  }
  r.x = take(tensors > 0 ? B * L * H * 4 : 0);
  r.u = take(tensors > 1 ? B * L * H * 4 : 0);
  r.y = take(tensors > 0 ? B * L * H * 4 : 0);
  r.end = at;
  return r;
}

interface Mapped extends Regions {
  f64: Float64Array;
  f32: Float32Array;
  threads: number;
  /** FFT data, rows and scratch in f32. */
  single: boolean;
  /** View of the FFT-precision elements (f32 or f64). */
  elems: Float32Array | Float64Array;
  /** Bytes per FFT-precision element. */
  e: number;
}

/** Lays out and grows the memory for one call, writing the plan, active rows and d. */
function map(c: Core, saved: ConvSaved, f32Tensors: boolean, tensors: number): Mapped {
  const A = saved.active.length;
  const pairs = (saved.dims.B + 1) >> 1;
  const threads = Math.max(1, Math.min(threadsFor(A * pairs * saved.n), A));
  const f32Spectra = saved.uRe instanceof Float32Array;
  const single = f32Tensors && f32Spectra;
  const r = regions(saved, f32Spectra, single, threads, tensors);
  const have = c.memory.buffer.byteLength;
  if (r.end > have) c.memory.grow(Math.ceil((r.end - have) / 65536));
  const f64 = new Float64Array(c.memory.buffer);
  const f32 = new Float32Array(c.memory.buffer);
  const elems = single ? f32 : f64;
  const e = single ? 4 : 8;
  elems.set(plan(saved.n), r.plan / e);
  new Int32Array(c.memory.buffer).set(saved.active, r.active / 4);
  for (let i = 0; i < A; i++) f64[r.d / 8 + i] = saved.d[saved.active[i]!]!;
  return { ...r, f64, f32, threads, single, elems, e };
}

/** The re and im blocks of the pair spectra, as views of the element type the saved arrays use. */
function specViews(m: Mapped, saved: ConvSaved): [Float32Array | Float64Array, Float32Array | Float64Array] {
  const count = saved.active.length * ((saved.dims.B + 1) >> 1) * saved.n;
  if (saved.uRe instanceof Float32Array) {
    const at = m.spec / 4;
    return [m.f32.subarray(at, at + count), m.f32.subarray(at + count, at + 2 * count)];
  }
  const at = m.spec / 8;
  return [m.f64.subarray(at, at + count), m.f64.subarray(at + count, at + 2 * count)];
}

function allF32(...xs: Real[]): boolean {
  return xs.every((x) => x instanceof Float32Array);
}

/** Transposes in wasm, one batch range per thread. */
function gather(c: Core, m: Mapped, saved: ConvSaved, withDot: boolean): void {
  const { B, L, H } = saved.dims;
  const A = saved.active.length;
  runParallel(
    c,
    splitRange(B, m.threads).map(([b0, b1], t) => ({
      fn: 'gatherRows',
      args: [m.x, m.rows, m.active, A, B, L, H, withDot ? m.u : 0, withDot ? m.dd[t]! : 0, b0, b1, m.single ? 1 : 0],
    })),
  );
}

function scatter(c: Core, m: Mapped, saved: ConvSaved, into: Float32Array): void {
  const { B, L, H } = saved.dims;
  const A = saved.active.length;
  const size = B * L * H;
  // Bypassed channels keep their input: start from a copy, then overwrite the active ones.
  if (A < H) m.f32.copyWithin(m.y / 4, m.x / 4, m.x / 4 + size);
  runParallel(
    c,
    splitRange(B, m.threads).map(([b0, b1]) => ({
      fn: 'scatterRows',
      args: [m.out, m.x, m.d, m.y, m.active, A, B, L, H, b0, b1, m.single ? 1 : 0],
    })),
  );
  into.set(m.f32.subarray(m.y / 4, m.y / 4 + size));
}

export const wasmEngine: ConvEngine = {
  name: 'wasm',

  forward(saved, k, y) {
    const c = loadCore()!;
    const { n, dirs, active, u, d, dims } = saved;
    const { B, L } = dims;
    const A = active.length;
    const f32Tensors = allF32(u, y);
    const m = map(c, saved, f32Tensors, f32Tensors ? 1 : 0);
    m.f64.set(k, m.kRows / 8);
    if (f32Tensors) {
      m.f32.set(u, m.x / 4);
      gather(c, m, saved, false);
    } else {
      toChannelRows(u, m.f64.subarray(m.rows / 8, m.rows / 8 + A * B * L), active, dims);
    }
    const f32Spectra = saved.uRe instanceof Float32Array ? 1 : 0;
    const jobs: Job[] = splitRange(A, m.threads).map(([r0, r1], t) => ({
      fn: 'forwardRange',
      args: [
        r0,
        r1,
        A,
        dirs,
        m.kRows,
        m.kSpec,
        m.rows,
        m.out,
        m.spec,
        B,
        L,
        n,
        m.plan,
        m.work[t]!,
        f32Spectra,
        m.single ? 1 : 0,
      ],
    }));
    runParallel(c, jobs);
    if (saved.kRe.length > 0) {
      const kAt = m.kSpec / m.e;
      saved.kRe.set(m.elems.subarray(kAt, kAt + A * n));
      saved.kIm.set(m.elems.subarray(kAt + A * n, kAt + 2 * A * n));
      const [sRe, sIm] = specViews(m, saved);
      saved.uRe.set(sRe);
      saved.uIm.set(sIm);
    }
    if (f32Tensors) scatter(c, m, saved, y as Float32Array);
    else fromChannelRows(m.f64.subarray(m.out / 8, m.out / 8 + A * B * L), u, d, y, active, dims);
  },

  backward(saved, dy, duOut, dk, dd) {
    const c = loadCore()!;
    const { n, dirs, active, u, d, dims } = saved;
    const { B, L } = dims;
    const A = active.length;
    const f32Tensors = allF32(dy, u, duOut);
    const m = map(c, saved, f32Tensors, f32Tensors ? 2 : 0);
    const kAt = m.kSpec / m.e;
    m.elems.set(saved.kRe, kAt);
    m.elems.set(saved.kIm, kAt + A * n);
    const [sRe, sIm] = specViews(m, saved);
    sRe.set(saved.uRe);
    sIm.set(saved.uIm);
    if (f32Tensors) {
      m.f32.set(dy, m.x / 4);
      m.f32.set(u, m.u / 4);
      for (const at of m.dd) m.f64.fill(0, at / 8, at / 8 + A);
      gather(c, m, saved, true);
      for (let r = 0; r < A; r++) {
        let s = 0;
        for (const at of m.dd) s += m.f64[at / 8 + r]!;
        dd[active[r]!] = s;
      }
    } else {
      toChannelRows(dy, m.f64.subarray(m.rows / 8, m.rows / 8 + A * B * L), active, dims, u, dd);
    }
    const f32Spectra = saved.uRe instanceof Float32Array ? 1 : 0;
    const jobs: Job[] = splitRange(A, m.threads).map(([r0, r1], t) => ({
      fn: 'backwardRange',
      args: [
        r0,
        r1,
        A,
        dirs,
        m.kSpec,
        m.rows,
        m.out,
        m.spec,
        B,
        L,
        n,
        m.plan,
        m.work[t]!,
        f32Spectra,
        m.acc[t]!,
        m.dk,
        m.single ? 1 : 0,
      ],
    }));
    runParallel(c, jobs);
    dk.set(m.f64.subarray(m.dk / 8, m.dk / 8 + dirs * A * L));
    if (f32Tensors) scatter(c, m, saved, duOut as Float32Array);
    else fromChannelRows(m.f64.subarray(m.out / 8, m.out / 8 + A * B * L), dy, d, duOut, active, dims);
  },
};
