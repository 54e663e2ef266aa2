/**
 * The cache bound is hard: models that cannot be evicted (active, previous, jobs in hand) count first, and a
 * model that does not fit beside them is refused with the reason instead of growing the cache past its bound.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelCache } from '@s4op/agent';
import { sha256Hex } from '@s4op/shared';

const model = (n: number) => {
  const bytes = randomBytes(n);
  return { bytes, sha: sha256Hex(bytes) };
};

describe('model cache bound with pinned models', () => {
  it('refuses a model that does not fit beside the pinned ones; evicts unpinned ones as before', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-cache-bound-'));
    const c = await new ModelCache(dir, 1000).init();
    const active = model(600);
    const previous = model(300);
    await c.put(active.sha, active.bytes);
    await c.put(previous.sha, previous.bytes, new Set([active.sha]));
    const next = model(300);
    await expect(c.put(next.sha, next.bytes, new Set([active.sha, previous.sha]))).rejects.toThrow(
      /does not fit: 900 bytes of the 1000-byte cache hold models that cannot be evicted/,
    );
    expect(c.totalBytes).toBe(900);
    expect(
      readdirSync(dir)
        .filter((f) => f.endsWith('.onnx'))
        .sort(),
    ).toEqual([`${active.sha}.onnx`, `${previous.sha}.onnx`].sort());
    // previous no longer pinned: it goes, the new one fits
    await c.put(next.sha, next.bytes, new Set([active.sha]));
    expect(c.has(previous.sha)).toBe(false);
    expect(c.totalBytes).toBe(900);
  });
});
