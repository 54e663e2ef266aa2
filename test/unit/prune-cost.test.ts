import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { FlopEstimate, forwardFlops } from '../../host/src/prune/cost/cost.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('FLOP estimate', () => {
  const L = 24;
  const cfg = tinyConfig({ dModel: 6, dState: 4, nLayers: 2 });

  it('bypassing a channel removes exactly its SSM work', () => {
    const m = new SequenceModel(cfg, 0);
    const full = { conv: forwardFlops(m, 'conv', L), step: forwardFlops(m, 'step', L) };
    m.setActive(1, [0, 1, 2]);
    // Step: per step and mode 12 flops (complex update 8, read-out 4), M = 2, plus the D skip: 24·(12·2 + 2).
    expect(full.step - forwardFlops(m, 'step', L)).toBe(3 * 24 * 26);
    // Conv at n = 64 (≥ 2L): 7.5·n·log2 n + 6n for the transforms and product, 2L for the skip.
    expect(full.conv - forwardFlops(m, 'conv', L)).toBe(3 * (7.5 * 64 * 6 + 6 * 64 + 2 * 24));
    m.dispose();
  });

  it('is labelled an estimate, keyed by architecture and operators only', async () => {
    const est = new FlopEstimate({ mode: 'step', length: L, gflops: 2 });
    expect(est.kind).toBe('estimate');
    expect(est.agent).toBe('estimate:flops');
    expect(est.settings).toEqual({ mode: 'step', length: L, gflops: 2 });
    const a = new SequenceModel(cfg, 0);
    const b = new SequenceModel(cfg, 1); // other weights, same operators: same estimate
    const pa = est.prepare(a, 'a');
    expect(est.prepare(b, 'b').model_sha256).toBe(pa.model_sha256);
    const f = await est.measure(pa);
    expect(f.p50_ms).toBeCloseTo(forwardFlops(a, 'step', L) / 2e6, 12);
    expect(f.rss_mb).toBeNull();
    a.setActive(0, [1]);
    expect(est.prepare(a, 'a').model_sha256).not.toBe(pa.model_sha256);
    expect(() => new FlopEstimate({ mode: 'conv', length: 0 })).toThrow(/length must be a positive integer/);
    a.dispose();
    b.dispose();
  });
});

describe('device classes', () => {
  it('quantile over classes: 1 is the worst, 0.5 the median, linear between', async () => {
    const { combineClasses } = await import('../../host/src/prune/cost/agent.js');
    const { quantile } = await import('../../shared/src/index.js');
    expect(quantile([3, 1, 2], 1)).toBe(3);
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([1, 3], 0.25)).toBe(1.5);
    const c = combineClasses(
      ['a', 'b'],
      [
        { p50_ms: 2, p90_ms: 3, rss_mb: 50, measured_by: 'x' },
        { p50_ms: 5, p90_ms: 4, rss_mb: null, measured_by: 'y' },
      ],
      1,
    );
    expect(c).toMatchObject({ p50_ms: 5, p90_ms: 4, rss_mb: 50, measured_by: 'a:x,b:y' });
  });
});
