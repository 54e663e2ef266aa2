import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ModelCache } from '@s4op/agent';
import { sha256Hex } from '@s4op/shared';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 's4op-cache-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const model = (n: number) => {
  const bytes = randomBytes(n);
  return { bytes, sha: sha256Hex(bytes) };
};

describe('model cache', () => {
  it('stores by content hash and survives a restart', async () => {
    const dir = tmp();
    const c = await new ModelCache(dir, 10_000).init();
    const m = model(1000);
    await c.put(m.sha, m.bytes);
    expect(readdirSync(dir)).toEqual([`${m.sha}.onnx`]);
    const again = await new ModelCache(dir, 10_000).init();
    expect(again.has(m.sha)).toBe(true);
    expect(await again.verify(m.sha)).toBe(true);
  });

  it('refuses bytes that do not match the hash, and models larger than the bound', async () => {
    const c = await new ModelCache(tmp(), 1000).init();
    const m = model(100);
    await expect(c.put('0'.repeat(64), m.bytes)).rejects.toThrow(/hash differently/);
    const big = model(2000);
    await expect(c.put(big.sha, big.bytes)).rejects.toThrow(/larger than the whole cache/);
    expect(c.list()).toEqual([]);
  });

  it('evicts the least recently used first, never pinned models', async () => {
    const c = await new ModelCache(tmp(), 3000).init();
    const [a, b, d, e] = [model(1000), model(1000), model(1000), model(1000)];
    await c.put(a.sha, a.bytes);
    await c.put(b.sha, b.bytes);
    await c.put(d.sha, d.bytes);
    await c.touch(a.sha); // a is now newer than b
    await c.put(e.sha, e.bytes);
    expect(c.has(b.sha)).toBe(false);
    expect([a, d, e].every((m) => c.has(m.sha))).toBe(true);
    // d is the oldest now, but pinned by a job: the next oldest goes instead
    const f = model(1000);
    await c.put(f.sha, f.bytes, new Set([d.sha]));
    expect(c.has(d.sha)).toBe(true);
    expect(c.has(a.sha)).toBe(false);
    expect(c.totalBytes).toBeLessThanOrEqual(3000);
  });

  it('drops a damaged file on verify and leftovers of interrupted writes on start', async () => {
    const dir = tmp();
    const c = await new ModelCache(dir, 10_000).init();
    const m = model(500);
    await c.put(m.sha, m.bytes);
    writeFileSync(c.pathOf(m.sha), Buffer.from('bit rot'));
    expect(await c.verify(m.sha)).toBe(false);
    expect(c.has(m.sha)).toBe(false);
    writeFileSync(path.join(dir, `${m.sha}.onnx.tmp-123-abcd`), 'half');
    writeFileSync(path.join(dir, 'notes.txt'), 'not a model');
    const again = await new ModelCache(dir, 10_000).init();
    expect(again.list()).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['notes.txt']);
  });
});
