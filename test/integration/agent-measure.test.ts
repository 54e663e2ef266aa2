/**
 * The measurement process for real: onnxruntime-node and onnxruntime-web in fresh child processes, on
 * real ONNX files, with every failure the issue lists coming back as a named error, never a crash.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { measure, probeRuntime } from '../../agent/dist/index.js';
import { resolveSettings, sha256Hex, type MeasureSettings } from '../../shared/dist/index.js';
import { badShapeModel, mixedInputModel, mlpModel, stringInputModel } from '../../host/src/testing/onnx-models.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-measure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array) {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return { path: p, sha256: sha256Hex(bytes) };
}

const FAST: Partial<MeasureSettings> = { warmup_ms: 20, warmup_runs: 3, min_duration_ms: 100, min_samples: 20 };
const settings = (extra: Record<string, unknown> = {}) => resolveSettings({ ...FAST, ...extra });

const small = file('small.onnx', mlpModel({ width: 32, layers: 2, batch: 'batch' }));
const wide = file('wide.onnx', mlpModel({ width: 256, layers: 6 }));

describe('measurement process', () => {
  it('probes both runtimes in child processes', async () => {
    expect(await probeRuntime('onnxruntime-node')).toMatchObject({
      ok: true,
      version: expect.stringMatching(/^\d+\.\d+/),
    });
    expect(await probeRuntime('onnxruntime-web')).toMatchObject({
      ok: true,
      version: expect.stringMatching(/^\d+\.\d+/),
    });
  });

  for (const runtime of ['onnxruntime-node', 'onnxruntime-web'] as const) {
    it(`measures a model with ${runtime}: loop limits, statistics, memory, named settings`, async () => {
      const r = await measure({ runtime, models: [small], settings: settings({ dims: { batch: 3 } }) });
      if (!r.ok) throw new Error(r.error.message);
      const m = r.measurement;
      expect(m.runtime.name).toBe(runtime);
      expect(m.runtime.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(Object.keys(m.runtime.settings).length).toBeGreaterThan(1);
      const f = m.models[0]!;
      expect(f.sha256).toBe(small.sha256);
      expect(f.inputs).toEqual([{ name: 'x', dtype: 'float32', declared_shape: ['batch', 32], shape: [3, 32] }]);
      const l = f.latency_ms;
      // both stopping rules: ≥ min_samples, and the samples cover at least min_duration
      expect(l.n).toBeGreaterThanOrEqual(20);
      expect(l.mean * l.n).toBeGreaterThan(50);
      expect(l.min).toBeLessThanOrEqual(l.median);
      expect(l.median).toBeLessThanOrEqual(l.p90);
      expect(l.p90).toBeLessThanOrEqual(l.p99);
      expect(l.p99).toBeLessThanOrEqual(l.max);
      expect(l.median_ci.low).toBeLessThanOrEqual(l.median);
      expect(l.median_ci.high).toBeGreaterThanOrEqual(l.median);
      expect(m.warmup.runs).toBeGreaterThanOrEqual(3);
      expect(m.warmup.ms).toBeGreaterThanOrEqual(20);
      expect(f.load_ms).toBeGreaterThan(0);
      expect(f.first_run_ms).toBeGreaterThan(0);
      expect(m.memory_mb!.baseline_rss).toBeGreaterThan(10);
      expect(m.memory_mb!.peak_rss).toBeGreaterThanOrEqual(m.memory_mb!.after_first_run_rss);
      expect(m.memory_mb!.load_added).toBeCloseTo(m.memory_mb!.after_load_rss - m.memory_mb!.baseline_rss, 9);
      expect(typeof m.thermal.throttled).toBe('boolean');
    });
  }

  it('interleaves two models in A/B mode and reports the ratio B/A', async () => {
    const r = await measure({
      runtime: 'onnxruntime-node',
      models: [small, wide],
      settings: settings({ min_duration_ms: 200, min_samples: 50 }),
    });
    if (!r.ok) throw new Error(r.error.message);
    const m = r.measurement;
    expect(m.mode).toBe('ab');
    expect(m.models).toHaveLength(2);
    expect(m.models[0]!.latency_ms.n).toBe(m.models[1]!.latency_ms.n);
    expect(m.ratio!.n).toBe(m.models[0]!.latency_ms.n);
    // 6 layers of 256×256 against 2 of 32×32: B is clearly slower
    expect(m.ratio!.median).toBeGreaterThan(1.5);
    expect(m.ratio!.median_ci.low).toBeLessThanOrEqual(m.ratio!.median);
  });

  it('synthesises integer inputs and named dynamic dimensions', async () => {
    const mixed = file('mixed.onnx', mixedInputModel());
    const r = await measure({
      runtime: 'onnxruntime-node',
      models: [mixed],
      settings: settings({ dims: { batch: 5 } }),
    });
    if (!r.ok) throw new Error(r.error.message);
    expect(r.measurement.models[0]!.inputs.map((i) => [i.name, i.dtype, i.shape])).toEqual([
      ['x', 'float32', [5, 4]],
      ['k', 'int64', [5, 4]],
    ]);
  });

  it('names each kind of bad input', async () => {
    const cases: [string, Parameters<typeof measure>[0], string, RegExp][] = [
      [
        'string input',
        { runtime: 'onnxruntime-node', models: [file('s.onnx', stringInputModel())], settings: settings() },
        'unsynthesisable_input',
        /input "s" has dtype string/,
      ],
      [
        'not ONNX',
        {
          runtime: 'onnxruntime-node',
          models: [file('junk.onnx', Buffer.from('this is not a model'))],
          settings: settings(),
        },
        'bad_model',
        /could not load model/,
      ],
      [
        'not ONNX (web)',
        {
          runtime: 'onnxruntime-web',
          models: [file('junk2.onnx', Buffer.from('%PDF-1.4 nope'))],
          settings: settings(),
        },
        'bad_model',
        /could not load model/,
      ],
      [
        'runtime shape failure',
        { runtime: 'onnxruntime-node', models: [file('bad.onnx', badShapeModel())], settings: settings() },
        'run_failed',
        /Reshape|reshape/,
      ],
      [
        'wrong shape',
        { runtime: 'onnxruntime-node', models: [small], settings: settings({ shapes: { x: [2, 31] } }) },
        'unsynthesisable_input',
        /dimension 1 is fixed at 32/,
      ],
      [
        'wrong rank',
        { runtime: 'onnxruntime-node', models: [small], settings: settings({ shapes: { x: [2] } }) },
        'unsynthesisable_input',
        /rank 1, the model declares rank 2/,
      ],
      [
        'unknown input',
        { runtime: 'onnxruntime-node', models: [small], settings: settings({ shapes: { y: [1] } }) },
        'unsynthesisable_input',
        /names input "y", which the model does not have/,
      ],
      [
        'damaged cache file',
        { runtime: 'onnxruntime-node', models: [{ path: small.path, sha256: 'f'.repeat(64) }], settings: settings() },
        'hash_mismatch',
        /no longer matches its hash/,
      ],
    ];
    for (const [what, req, code, message] of cases) {
      const r = await measure(req);
      expect(r.ok, what).toBe(false);
      if (!r.ok) {
        expect(r.error.code, what).toBe(code);
        expect(r.error.message, what).toMatch(message);
      }
    }
  });

  it('turns a crashed measurement process into runtime_crashed', async () => {
    const r = await measure({
      runtime: 'onnxruntime-node',
      models: [small],
      settings: settings({ min_duration_ms: 30_000, min_samples: 1_000_000, max_samples: 10_000_000 }),
      // what the kernel's OOM killer does to a runtime that blows up
      onChild: (child) => setTimeout(() => child.kill('SIGKILL'), 1500),
    });
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'runtime_crashed', message: expect.stringMatching(/killed by SIGKILL/) },
    });
  });

  it('stops a job at its timeout and on cancel', async () => {
    const t0 = Date.now();
    const r = await measure({
      runtime: 'onnxruntime-node',
      models: [small],
      settings: settings({ min_duration_ms: 60_000, max_samples: 10_000_000, timeout_ms: 1500 }),
    });
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'timeout', message: expect.stringContaining('timeout of 1500 ms') },
    });
    expect(Date.now() - t0).toBeLessThan(6000);

    const abort = new AbortController();
    setTimeout(() => abort.abort(), 800);
    const c = await measure({
      runtime: 'onnxruntime-web',
      models: [small],
      settings: settings({ min_duration_ms: 60_000, max_samples: 10_000_000 }),
      signal: abort.signal,
    });
    expect(c).toMatchObject({ ok: false, error: { code: 'cancelled' } });
  });
});
