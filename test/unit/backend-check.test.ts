/**
 * The backend self-check, generic over candidate and reference: real tfjs backends, real comparison. The cpu
 * backend must pass against wasm; a backend that is cpu with one corrupted kernel (or one failing kernel)
 * must be rejected; and the verdict is cached per installed version.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  BACKEND_CHECK_TOLERANCE,
  backendCheckCacheFile,
  checkBackend,
  relativeError,
} from '../../host/src/backend-check.js';
import { registerFailingCpu, registerSkewedCpu } from '../helpers/test-backends.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-backend-check-'));
const cacheFile = path.join(dir, 'backend-check.json');
let before: string;

beforeAll(async () => {
  before = tf.getBackend();
  registerSkewedCpu();
  registerFailingCpu();
  await tf.setBackend('wasm');
});

afterAll(async () => {
  if (before) await tf.setBackend(before);
});

describe('backend self-check', () => {
  it('accepts cpu against wasm, and leaves the current backend as it was', async () => {
    const v = await checkBackend({ candidate: 'cpu', reference: 'wasm', version: 'cpu@test', cacheFile: null });
    expect(v.reason).toBeUndefined();
    expect(v.ok).toBe(true);
    expect(v.worst!.error).toBeLessThan(BACKEND_CHECK_TOLERANCE / 10);
    expect(tf.getBackend()).toBe('wasm');
  }, 60_000);

  it('rejects a candidate with a corrupted kernel, naming what differs', async () => {
    const v = await checkBackend({
      candidate: 'test-cpu-skewed',
      reference: 'wasm',
      version: 'skewed@1',
      cacheFile: null,
    });
    expect(v.ok).toBe(false);
    expect(v.worst!.error).toBeGreaterThan(BACKEND_CHECK_TOLERANCE);
    expect(v.reason).toMatch(/differs from wasm by \d\.\de-\d+ \(tolerance 1e-3\)/);
  }, 60_000);

  it('rejects a candidate that fails the workload', async () => {
    const v = await checkBackend({
      candidate: 'test-cpu-failing',
      reference: 'wasm',
      version: 'failing@1',
      cacheFile: null,
    });
    expect(v.ok).toBe(false);
    expect(v.reason).toMatch(/^failed the workload: .*not implemented/);
    expect(tf.getBackend()).toBe('wasm');
  }, 60_000);

  it('caches the verdict per installed version: a second start does not re-run, another version does', async () => {
    const first = await checkBackend({
      candidate: 'test-cpu-skewed',
      reference: 'wasm',
      version: 'skewed@1',
      cacheFile,
    });
    expect(first).toMatchObject({ ok: false, cached: false });
    const stored = JSON.parse(readFileSync(cacheFile, 'utf8'));
    expect(Object.keys(stored)).toEqual([first.key]);
    expect(first.key).toContain('skewed@1');

    const t0 = performance.now();
    const second = await checkBackend({
      candidate: 'test-cpu-skewed',
      reference: 'wasm',
      version: 'skewed@1',
      cacheFile,
    });
    expect(performance.now() - t0).toBeLessThan(50);
    expect(second).toMatchObject({ ok: false, cached: true, reason: first.reason, checked_at: first.checked_at });

    const other = await checkBackend({
      candidate: 'test-cpu-skewed',
      reference: 'wasm',
      version: 'skewed@2',
      cacheFile,
    });
    expect(other.cached).toBe(false);
    expect(Object.keys(JSON.parse(readFileSync(cacheFile, 'utf8'))).sort()).toEqual([first.key, other.key].sort());
  }, 60_000);

  it('keeps its cache under S4OP_CACHE_DIR, else XDG_CACHE_HOME/s4op', () => {
    const saved = { s: process.env.S4OP_CACHE_DIR, x: process.env.XDG_CACHE_HOME };
    try {
      process.env.S4OP_CACHE_DIR = '/somewhere/s4op-cache';
      expect(backendCheckCacheFile()).toBe('/somewhere/s4op-cache/backend-check.json');
      delete process.env.S4OP_CACHE_DIR;
      process.env.XDG_CACHE_HOME = '/xdg';
      expect(backendCheckCacheFile()).toBe('/xdg/s4op/backend-check.json');
    } finally {
      for (const [k, v] of [
        ['S4OP_CACHE_DIR', saved.s],
        ['XDG_CACHE_HOME', saved.x],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('measures error relative to the reference, NaN never passing', () => {
    expect(relativeError(Float32Array.of(1, 2), Float32Array.of(1, 2))).toBe(0);
    expect(relativeError(Float32Array.of(1.01, 0), Float32Array.of(1, 0))).toBeCloseTo(0.01, 6);
    expect(relativeError(Float32Array.of(NaN), Float32Array.of(1)) <= 1).toBe(false);
  });
});
