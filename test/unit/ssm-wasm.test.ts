import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseConvSaved, ssmConvBackward, ssmConvForward } from '../../host/src/ssm/conv/conv.js';
import { wasmAvailable } from '../../host/src/ssm/conv/engine-wasm.js';
import {
  configureSsmThreads,
  loadCore,
  runParallel,
  ssmThreadInfo,
  splitRange,
} from '../../host/src/ssm/wasm/wasm-core.js';
import { Rng } from '../../host/src/util/random.js';

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / Math.max(scale, 1e-300);
}

describe('wasm engine of the S4D convolution', () => {
  const initial = ssmThreadInfo().threads;
  afterAll(() => configureSsmThreads({ threads: initial, minWork: 1 << 18 }));

  it('loads on this runtime (WebAssembly SIMD, shared memory)', () => {
    expect(wasmAvailable(2048)).toBe(true);
    expect(wasmAvailable(8)).toBe(false); // tiny FFTs stay in JS
  });

  it.each([
    { threads: 2, bidirectional: false, tensors: 'float32' },
    { threads: 3, bidirectional: true, tensors: 'float32' },
    { threads: 2, bidirectional: true, tensors: 'float64' },
  ] as const)(
    'split over $threads threads it equals the js engine ($tensors tensors, bidirectional = $bidirectional)',
    ({ threads, bidirectional, tensors }) => {
      configureSsmThreads({ threads, minWork: 0 });
      const dims = { B: 7, L: 90, H: 9 };
      const active = Int32Array.from([0, 1, 2, 4, 5, 8]); // 3, 6, 7 bypassed
      const dirs = bidirectional ? 2 : 1;
      const rng = new Rng(threads * 10 + dirs);
      const T = tensors === 'float32' ? Float32Array : Float64Array;
      const rand = (n: number) => {
        const a = new T(n);
        for (let i = 0; i < n; i++) a[i] = rng.normal();
        return a;
      };
      const u = rand(dims.B * dims.L * dims.H);
      const k = rand(dirs * active.length * dims.L);
      const d = rand(dims.H);
      const dy = rand(u.length);
      const run = (engine: 'wasm' | 'js') => {
        const y = new T(u.length);
        const saved = ssmConvForward(u, k, d, active, dims, y, { bidirectional, engine, saveSpectra: 'float32' });
        expect(saved.engine.name).toBe(engine);
        const g = ssmConvBackward(saved, dy, new T(u.length));
        releaseConvSaved(saved);
        return { y, ...g };
      };
      const a = run('wasm');
      expect(ssmThreadInfo().running).toBe(threads - 1);
      const b = run('js');
      for (const key of ['y', 'du', 'dk', 'dd'] as const) expect(maxRelDiff(a[key], b[key]), key).toBeLessThan(1e-6);
      for (let i = 0; i < u.length; i++) {
        if ([3, 6, 7].includes(i % dims.H)) {
          expect(a.y[i]).toBe(u[i]);
          expect(a.du[i]).toBe(dy[i]);
        }
      }
      expect(a.dd[3]).toBe(0);
    },
  );

  it('splits ranges evenly and validates its settings', () => {
    expect(splitRange(7, 3)).toEqual([
      [0, 2],
      [2, 4],
      [4, 7],
    ]);
    expect(splitRange(1, 2)).toEqual([
      [0, 0],
      [0, 1],
    ]);
    expect(() => configureSsmThreads({ threads: 0 })).toThrow('positive integer');
  });

  // Last in this file: it turns threading off for the rest of this (per-file) module instance.
  it('a worker that fails turns threading off with a clear error; later calls run on one thread', () => {
    configureSsmThreads({ threads: 2, minWork: 0 });
    const core = loadCore()!;
    const beyond = core.memory.buffer.byteLength + 1024; // out of bounds: the wasm code traps
    expect(() =>
      runParallel(core, [
        { fn: 'gatherRows', args: [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0] }, // nothing to do on this thread
        { fn: 'kernelForwardRange', args: [0, 1, 1, 1, 4, 1, beyond, 0] },
      ]),
    ).toThrow('a worker threw');
    expect(ssmThreadInfo().broken).toContain('worker threw');
    expect(ssmThreadInfo().running).toBe(0);
    const dims = { B: 4, L: 50, H: 2 };
    const u = Float32Array.from({ length: 400 }, (_, i) => Math.sin(i));
    const k = Float32Array.from({ length: 100 }, (_, i) => Math.cos(i) / (i + 1));
    const d = Float32Array.from([0.5, -1]);
    const active = Int32Array.from([0, 1]);
    const a = new Float32Array(400);
    const b = new Float32Array(400);
    ssmConvForward(u, k, d, active, dims, a, { saveSpectra: 'float32' });
    ssmConvForward(u, k, d, active, dims, b, { saveSpectra: 'float32', engine: 'js' });
    expect(maxRelDiff(a, b)).toBeLessThan(1e-6);
  });

  it('the committed module (host/src/ssm/wasm/wasm-bytes.ts) is compiled from host/assembly/ssm-core.ts', () => {
    const script = fileURLToPath(new URL('../../scripts/build-wasm.mjs', import.meta.url));
    const out = execFileSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    expect(out).toContain('matches');
  });
});
