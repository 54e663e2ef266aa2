import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@s4op/host';
import { startFirstBackend, type BackendLoader } from '../../host/src/backend.js';
import { registerSkewedCpu } from '../helpers/test-backends.js';

describe('tfjs backend seam', () => {
  it('starts the first available backend and computes on it', async () => {
    const choice = await initBackend();
    expect(tf.getBackend()).toBe(choice.name);
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(y.dataSync())).toEqual([11]);
  });

  it('names an unknown backend in its error', async () => {
    await expect(initBackend('nope')).rejects.toThrow('unknown tfjs backend "nope"');
  });
});

describe('self-checked backends (the seam tfjs-node goes through, with test backends in its place)', () => {
  const wasm: BackendLoader = {
    name: 'wasm',
    async register() {
      await import('@tensorflow/tfjs-backend-wasm');
    },
  };
  const candidate = (name: string, version: string, register = async () => {}): BackendLoader => ({
    name,
    register,
    selfCheck: { reference: wasm, version: () => version },
  });
  const cacheFile = path.join(mkdtempSync(path.join(os.tmpdir(), 's4op-backend-seam-')), 'backend-check.json');

  it('uses a candidate that agrees with its reference', async () => {
    const lines: string[] = [];
    const choice = await startFirstBackend([candidate('cpu', 'cpu@seam'), wasm], {
      cacheFile,
      log: (l) => lines.push(l),
    });
    expect(choice).toEqual({ name: 'cpu', skipped: [] });
    expect(tf.getBackend()).toBe('cpu');
    expect(lines).toEqual([]);
  }, 60_000);

  it('falls back to the reference with one line saying why when the candidate disagrees, and remembers it', async () => {
    const lines: string[] = [];
    const skewed = candidate(
      'test-cpu-skewed-seam',
      'skewed@seam',
      async () => void registerSkewedCpu('test-cpu-skewed-seam'),
    );
    const choice = await startFirstBackend([skewed, wasm], { cacheFile, log: (l) => lines.push(l) });
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.skipped).toEqual([
      {
        name: 'test-cpu-skewed-seam',
        reason: expect.stringMatching(/^self-check against wasm: .* differs from wasm by/),
      },
    ]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^s4op: tfjs backend test-cpu-skewed-seam failed its self-check against wasm \(.*\); computing on wasm instead \(S4OP_BACKEND=test-cpu-skewed-seam forces it\)$/,
    );
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8'));
    expect(Object.keys(cache).some((k) => k.includes('skewed@seam'))).toBe(true);

    // The next start reads the verdict (still falling back, with the same line) instead of re-running it.
    const again: string[] = [];
    const t0 = performance.now();
    expect((await startFirstBackend([skewed, wasm], { cacheFile, log: (l) => again.push(l) })).name).toBe('wasm');
    expect(performance.now() - t0).toBeLessThan(200);
    expect(again).toEqual(lines);
  }, 60_000);

  it('asked for by name, a backend is used without the check', async () => {
    const skewed = candidate(
      'test-cpu-skewed-seam',
      'skewed@seam',
      async () => void registerSkewedCpu('test-cpu-skewed-seam'),
    );
    expect((await startFirstBackend([skewed], { selfCheck: false })).name).toBe('test-cpu-skewed-seam');
    await tf.setBackend('wasm');
  });
});
