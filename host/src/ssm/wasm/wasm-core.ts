/**
 * Loads the SSM wasm module (host/assembly/ssm-core.ts: the hot loops of the long convolution and of the
 * S4D kernel, in shared memory) and runs its range functions
 * on several threads: the main thread takes the first range, worker threads (same module, same memory)
 * the others, and the main thread blocks until all are done (the tfjs op that calls this is synchronous).
 * Workers are started lazily, unref'd (they never keep the process alive) and idle in Atomics.wait.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { waitWhile } from '../../util/atomics.js';
import { SSM_CORE_WASM_BASE64 } from './wasm-bytes.js';

/** 2 GiB, as compiled (scripts/build-wasm.mjs): byte offsets fit the module's i32 arguments. */
export const MAX_BYTES = 32768 * 65536;

export interface CoreExports {
  gatherRows(
    x: number,
    rows: number,
    active: number,
    A: number,
    B: number,
    L: number,
    H: number,
    u: number,
    dd: number,
    b0: number,
    b1: number,
    single: number,
  ): void;
  scatterRows(
    rows: number,
    x: number,
    d: number,
    out: number,
    active: number,
    A: number,
    B: number,
    L: number,
    H: number,
    b0: number,
    b1: number,
    single: number,
  ): void;
  forwardRange(
    r0: number,
    r1: number,
    A: number,
    dirs: number,
    kRows: number,
    kSpec: number,
    rows: number,
    out: number,
    spec: number,
    B: number,
    L: number,
    n: number,
    plan: number,
    work: number,
    f32: number,
    single: number,
  ): void;
  backwardRange(
    r0: number,
    r1: number,
    A: number,
    dirs: number,
    kSpec: number,
    rows: number,
    out: number,
    spec: number,
    B: number,
    L: number,
    n: number,
    plan: number,
    work: number,
    f32: number,
    acc: number,
    dk: number,
    single: number,
  ): void;
  kernelForwardRange(
    r0: number,
    r1: number,
    A: number,
    M: number,
    L: number,
    dirs: number,
    modes: number,
    out: number,
  ): void;
  kernelSumsRange(
    r0: number,
    r1: number,
    A: number,
    M: number,
    L: number,
    dirs: number,
    modes: number,
    dK: number,
    sums: number,
  ): void;
}
export type CoreFunction = keyof CoreExports;
const FUNCTIONS: CoreFunction[] = [
  'gatherRows',
  'scatterRows',
  'forwardRange',
  'backwardRange',
  'kernelForwardRange',
  'kernelSumsRange',
];

/** The part of the WebAssembly JS API used here (the Node typings in use do not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

export interface Core {
  exports: CoreExports;
  memory: WasmMemory;
  module: object;
}

let core: Core | null | undefined;
/** Why the wasm engine is unavailable (when it is). */
export let wasmUnavailableReason = '';

export function loadCore(): Core | null {
  if (core !== undefined) return core;
  try {
    if (!wasmApi) throw new Error('no WebAssembly in this runtime');
    const memory = new wasmApi.Memory({ initial: 1, maximum: MAX_BYTES / 65536, shared: true });
    const module = new wasmApi.Module(Buffer.from(SSM_CORE_WASM_BASE64, 'base64'));
    const instance = new wasmApi.Instance(module, { env: { memory } });
    core = { exports: instance.exports as unknown as CoreExports, memory, module };
  } catch (err) {
    wasmUnavailableReason = err instanceof Error ? err.message : String(err);
    core = null;
  }
  return core;
}

// ------------------------------------------------------------------------------------------ threads

/**
 * Control block per worker (Int32Array over a SharedArrayBuffer):
 * [0] job sequence number (main), [1] finished sequence number (worker), [2] status of the last job
 * (0 ok, 1 threw), [3] function index (−1: exit), [4] argument count, [5…] arguments.
 */
const CONTROL_INTS = 40;
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, names } = workerData;
const exports_ = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctl = new Int32Array(control);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  const fn = ctl[3];
  if (fn < 0) break;
  let status = 0;
  try {
    const args = [];
    for (let i = 0; i < ctl[4]; i++) args.push(ctl[5 + i]);
    exports_[names[fn]](...args);
  } catch (err) {
    status = 1;
  }
  Atomics.store(ctl, 2, status);
  Atomics.store(ctl, 1, seen);
  Atomics.notify(ctl, 1);
}
`;

interface Helper {
  worker: Worker;
  ctl: Int32Array;
  seq: number;
}

const helpers: Helper[] = [];
/** A worker that failed or hung turns threading off for the rest of the process. */
let threadsBroken = '';
const settings = {
  /** Thread count; resolved from S4OP_SSM_THREADS / the core count on first use. */
  threads: 0,
  /** Below this much FFT work (points × transforms) one thread is faster than waking others. */
  minWork: 1 << 18,
  /** A job that takes longer than this is taken as a hung worker. */
  timeoutMs: 120_000,
};

function defaultThreads(): number {
  const env = process.env.S4OP_SSM_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`S4OP_SSM_THREADS must be a positive integer, got "${env}"`);
    return n;
  }
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(4, cores));
}

/** Threads for the S4D convolution (default: cores, at most 4; S4OP_SSM_THREADS overrides). */
export function configureSsmThreads(opts: { threads?: number; minWork?: number }): void {
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1)
      throw new Error(`threads must be a positive integer, got ${opts.threads}`);
    settings.threads = opts.threads;
    while (helpers.length > opts.threads - 1) stopHelper(helpers.pop()!);
  }
  if (opts.minWork !== undefined) settings.minWork = opts.minWork;
}

function threadCount(): number {
  if (settings.threads === 0) settings.threads = defaultThreads();
  return settings.threads;
}

/** How many threads a call with this much FFT work will use. */
export function threadsFor(work: number): number {
  const threads = threadCount();
  if (threadsBroken || work < settings.minWork) return 1;
  return threads;
}

export function ssmThreadInfo(): { threads: number; running: number; broken: string } {
  return { threads: threadCount(), running: helpers.length, broken: threadsBroken };
}

function startHelper(c: Core): Helper {
  const control = new SharedArrayBuffer(CONTROL_INTS * 4);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { module: c.module, memory: c.memory, control, names: FUNCTIONS },
  });
  worker.unref();
  // Errors surface through the control block (status or timeout); keep them from crashing the process.
  worker.on('error', () => {});
  return { worker, ctl: new Int32Array(control), seq: 0 };
}

function stopHelper(h: Helper): void {
  h.ctl[3] = -1;
  Atomics.add(h.ctl, 0, 1);
  Atomics.notify(h.ctl, 0);
  void h.worker.terminate();
}

export interface Job {
  fn: CoreFunction;
  args: number[];
}

/**
 * Runs jobs[0] on the main thread and the others on workers, concurrently; returns when all are done.
 * The jobs must touch disjoint memory. Without enough workers the rest run here, one after another.
 */
export function runParallel(c: Core, jobs: Job[]): void {
  const posted: Helper[] = [];
  for (let i = 1; i < jobs.length; i++) {
    if (threadsBroken || jobs[i]!.args.length > CONTROL_INTS - 5) break;
    if (helpers.length < i) {
      try {
        helpers.push(startHelper(c));
      } catch (err) {
        // No worker threads here (sandbox, exotic runtime): run everything on this thread from now on.
        threadsBroken = `cannot start a worker: ${err instanceof Error ? err.message : String(err)}`;
        break;
      }
    }
    const h = helpers[i - 1]!;
    const job = jobs[i]!;
    h.ctl[3] = FUNCTIONS.indexOf(job.fn);
    h.ctl[4] = job.args.length;
    job.args.forEach((a, j) => (h.ctl[5 + j] = a));
    h.seq = Atomics.add(h.ctl, 0, 1) + 1;
    Atomics.notify(h.ctl, 0);
    posted.push(h);
  }
  call(c, jobs[0]!);
  for (let i = posted.length + 1; i < jobs.length; i++) call(c, jobs[i]!);
  let failure = '';
  for (const h of posted) {
    if (waitWhile(h.ctl, 1, h.seq - 1, Date.now() + settings.timeoutMs) !== h.seq)
      failure ||= `a worker did not finish within ${settings.timeoutMs} ms`;
    else if (h.ctl[2] !== 0) failure ||= 'a worker threw while running the wasm core';
  }
  if (failure) {
    threadsBroken = failure;
    while (helpers.length) stopHelper(helpers.pop()!);
    throw new Error(
      `ssmConv: ${failure}; threading is now off for this process (S4OP_SSM_THREADS=1 to start without it)`,
    );
  }
}

function call(c: Core, job: Job): void {
  (c.exports[job.fn] as (...args: number[]) => void)(...job.args);
}

/** Splits [0, count) into `parts` contiguous ranges (some may be empty). */
export function splitRange(count: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  for (let t = 0; t < parts; t++) out.push([Math.floor((t * count) / parts), Math.floor(((t + 1) * count) / parts)]);
  return out;
}
