/**
 * The device-peak cache's policy for peaks measured on a busy machine (the real measurement, its file and
 * a damaged file are exercised in test/integration/agent-profile-peak.test.ts). The figures here are
 * given, so the choice between a busy and a quiet peak can be checked exactly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DevicePeak } from '@s4op/shared';
import { PeakCache } from '../../agent/src/measure/peak-cache.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-peak-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (busy: boolean) => ({
  other_cpu_fraction: busy ? 0.6 : 0.05,
  other_cpu_cores: busy ? 1.2 : 0.1,
  cores: 2,
  loadavg_1m: null,
  busy,
  busy_threshold: 0.25,
});
const peak = (gflops: number, busy: boolean): DevicePeak => ({
  runtime: 'onnxruntime-node',
  runtime_version: '1.30.0',
  threads: 1,
  matmul_gflops: gflops,
  matmul_by_size: { '256': gflops },
  bandwidth_gbs: 10,
  measured_at: new Date().toISOString(),
  background_load: load(busy),
});

describe('device peak cache, busy machine', () => {
  it('measures a busy peak once more per agent life and keeps the better one', async () => {
    const figures = [peak(20, true), peak(15, true), peak(50, false)];
    let calls = 0;
    const next = async () => figures[calls++]!;
    const logs: string[] = [];
    const cache = new PeakCache(path.join(dir, 'a'), (l) => logs.push(l));
    const a = await cache.obtain('onnxruntime-node', '1.30.0', 1, next);
    expect(a).toMatchObject({ cached: false, peak: { matmul_gflops: 20 } });
    // busy: measured again once; the new one is busy and lower, so the first stays
    const b = await cache.obtain('onnxruntime-node', '1.30.0', 1, next);
    expect(b).toMatchObject({ cached: false, peak: { matmul_gflops: 20 } });
    expect(logs.join('\n')).toMatch(/measured on a busy machine: measuring it again/);
    // once per agent life: now read from the cache
    expect(await cache.obtain('onnxruntime-node', '1.30.0', 1, next)).toMatchObject({
      cached: true,
      peak: { matmul_gflops: 20 },
    });
    expect(calls).toBe(2);
    // a restarted agent tries again, and a quiet measurement replaces a busy one
    const restarted = new PeakCache(path.join(dir, 'a'));
    expect(await restarted.obtain('onnxruntime-node', '1.30.0', 1, next)).toMatchObject({
      cached: false,
      peak: { matmul_gflops: 50 },
    });
    expect(await new PeakCache(path.join(dir, 'a')).obtain('onnxruntime-node', '1.30.0', 1, next)).toMatchObject({
      cached: true,
      peak: { matmul_gflops: 50 },
    });
    expect(calls).toBe(3);
  });

  it('keeps a quiet peak over a later busy one, and never re-measures a quiet one', async () => {
    let calls = 0;
    const cache = new PeakCache(path.join(dir, 'b'));
    await cache.put(peak(40, false));
    expect(await cache.obtain('onnxruntime-node', '1.30.0', 1, async () => (calls++, peak(90, true)))).toMatchObject({
      cached: true,
      peak: { matmul_gflops: 40 },
    });
    expect(calls).toBe(0);
    // another runtime version is another device figure
    expect(await cache.find('onnxruntime-node', '1.31.0', 1)).toBeNull();
  });
});
