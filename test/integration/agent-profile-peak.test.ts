/**
 * Measurement additions for real, in the agent's measurement processes: background load with every job,
 * the device's MatMul peak measured once per runtime and thread count and cached on disk (a damaged cache
 * is measured again with a warning), achieved GFLOP/s and peak fraction for S4oP exports, and the profile
 * pass: per section for our export, per op type for a foreign model, null with a reason on onnxruntime-web.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeakCache, measure, measurePeakInChild } from '../../agent/dist/index.js';
import {
  Measurement,
  resolveSettings,
  sha256Hex,
  type DevicePeak,
  type MeasureSettings,
  type RuntimeName,
} from '../../shared/dist/index.js';
import { initBackend } from '../../host/src/backend.js';
import { exportModel } from '../../host/src/export/export.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';
import { AGENT_CLI, HOST_CLI, killAll, runCli } from '../helpers/processes.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-profile-peak-'));
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, bytes: Uint8Array) {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return { path: p, sha256: sha256Hex(bytes) };
}

const FAST: Partial<MeasureSettings> = { warmup_ms: 50, warmup_runs: 5, min_duration_ms: 300, min_samples: 30 };
const settings = (extra: Record<string, unknown> = {}) => resolveSettings({ ...FAST, ...extra });

let ours: { path: string; sha256: string };
let declared: { total: number; bySection: Record<string, number> };
const foreign = file('mlp.onnx', mlpModel({ width: 64, layers: 3 }));

beforeAll(async () => {
  await initBackend('cpu');
  // the demo's shape (S4D d_model 32, d_state 32, 4 layers, L 196), at a fixed batch of 2
  const model = new SequenceModel(tinyConfig({ dModel: 32, dState: 32, nLayers: 4, inputSize: 1, numClasses: 10 }), 7);
  try {
    const r = exportModel(model, { mode: 'conv', length: 196, batch: 2 });
    ours = file('demo.onnx', r.bytes);
    declared = {
      total: Number(r.metadata.declared_flops),
      bySection: JSON.parse(r.metadata.declared_flops_by_section!) as Record<string, number>,
    };
  } finally {
    model.dispose();
  }
});

describe('measurement additions', () => {
  it('our export: background load, achieved GFLOP/s and peak fraction, and a profile per section', async () => {
    const logs: string[] = [];
    const peaks = new PeakCache(path.join(dir, 'agent-a'), (l) => logs.push(l));
    const r = await measure({
      runtime: 'onnxruntime-node',
      models: [ours],
      settings: settings({ profile: true }),
      peaks,
      log: (l) => logs.push(l),
    });
    if (!r.ok) throw new Error(r.error.message);
    const m = r.measurement;
    expect(Measurement.safeParse(m).success).toBe(true);

    const load = m.background_load!;
    expect(load.cores).toBe(os.cpus().length);
    expect(load.other_cpu_fraction).toBeGreaterThanOrEqual(0);
    expect(load.other_cpu_fraction).toBeLessThanOrEqual(1);
    expect(load.other_cpu_cores).toBeCloseTo(load.other_cpu_fraction * load.cores, 2);
    expect(load.busy).toBe(load.other_cpu_fraction > load.busy_threshold);

    // the peak was measured for this runtime at 1 thread and stored
    const peak = m.device_peak!;
    expect(peak).toMatchObject({ runtime: 'onnxruntime-node', runtime_version: m.runtime.version, threads: 1 });
    // all three sizes on this machine (a size slower than 250 ms per run would end the series)
    expect(Object.keys(peak.matmul_by_size).sort()).toEqual(['1024', '256', '512']);
    expect(peak.matmul_gflops).toBe(Math.max(...Object.values(peak.matmul_by_size)));
    expect(peak.matmul_gflops).toBeGreaterThan(0.5);
    expect(peak.bandwidth_gbs).toBeGreaterThan(0.1);
    expect(logs.some((l) => /measuring the device peak/.test(l))).toBe(true);
    expect(JSON.parse(readFileSync(peaks.file, 'utf8')).peaks).toEqual([peak]);

    const f = m.models[0]!;
    // declared work × the batch fed, over the median
    expect(f.inputs[0]!.shape[0]).toBe(2);
    expect(f.declared_flops).toBe(declared.total * 2);
    expect(f.achieved_gflops!).toBeCloseTo(f.declared_flops! / (f.latency_ms.median * 1e6), 3);
    expect(f.peak_fraction!).toBeCloseTo(f.achieved_gflops! / peak.matmul_gflops, 3);
    expect(f.peak_fraction!).toBeGreaterThan(0);
    expect(f.peak_fraction!).toBeLessThan(1.5);

    const p = f.profile!;
    expect(f.profile_error).toBeUndefined();
    expect(p.runs).toBe(20);
    expect(Object.keys(p.by_section!).sort()).toEqual(['mixing', 'norm', 'other', 'ssm']);
    for (const [section, ms] of Object.entries(p.by_section!)) expect(ms, section).toBeGreaterThan(0);
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, v) => a + v, 0);
    expect(sum(p.by_section!)).toBeCloseTo(p.kernel_ms, 2);
    expect(sum(p.by_op_type)).toBeCloseTo(p.kernel_ms, 2);
    expect(p.by_op_type.MatMul).toBeGreaterThan(0);
    // kernel time is inside the run; the profiler slows nodes down, so it is at least a good part of the un-profiled median
    expect(p.kernel_ms).toBeLessThanOrEqual(p.run_ms * 1.01);
    expect(p.kernel_ms).toBeGreaterThan(0.5 * f.latency_ms.median);
    // per-section rates: each section's declared work over its share of the median
    for (const s of ['ssm', 'mixing', 'norm', 'other']) {
      const share = p.by_section![s]! / p.kernel_ms;
      expect(p.gflops_by_section![s]!, s).toBeCloseTo(
        (declared.bySection[s]! * 2) / (share * f.latency_ms.median * 1e6),
        1,
      );
    }
  });

  it('a foreign model: per-op-type times only, no declared work and no peak', async () => {
    // graph optimisation off, so the node types are the model's own (with it, onnxruntime fuses them into FusedGemm)
    const r = await measure({
      runtime: 'onnxruntime-node',
      models: [foreign],
      settings: settings({ profile: true, graph_optimization: 'disabled' }),
      peaks: new PeakCache(path.join(dir, 'agent-b')),
    });
    if (!r.ok) throw new Error(r.error.message);
    const f = r.measurement.models[0]!;
    expect(f.profile!.by_section).toBeNull();
    expect(f.profile!.gflops_by_section).toBeNull();
    expect(Object.keys(f.profile!.by_op_type).sort()).toEqual(['Add', 'MatMul', 'Relu']);
    expect(f.profile!.by_op_type.MatMul).toBeGreaterThan(0);
    expect(Object.values(f.profile!.by_op_type).reduce((a, v) => a + v, 0)).toBeCloseTo(f.profile!.kernel_ms, 2);
    expect('declared_flops' in f || 'achieved_gflops' in f || 'peak_fraction' in f).toBe(false);
    expect('device_peak' in r.measurement).toBe(false);
    expect(r.measurement.background_load).not.toBeUndefined();
  });

  it('without settings.profile there is no profile; onnxruntime-web says why it cannot profile', async () => {
    const plain = await measure({ runtime: 'onnxruntime-node', models: [foreign], settings: settings() });
    if (!plain.ok) throw new Error(plain.error.message);
    expect('profile' in plain.measurement.models[0]!).toBe(false);
    const web = await measure({ runtime: 'onnxruntime-web', models: [foreign], settings: settings({ profile: true }) });
    if (!web.ok) throw new Error(web.error.message);
    expect(web.measurement.models[0]!.profile).toBeNull();
    expect(web.measurement.models[0]!.profile_error).toMatch(/onnxruntime-web/);
  });
});

describe('device peak cache', () => {
  it('measures once, then reads the cache file; a damaged file is measured again with a warning', async () => {
    const cacheDir = path.join(dir, 'agent-c');
    let measured = 0;
    const measureOnce = async (runtime: RuntimeName, threads: number): Promise<DevicePeak> => {
      measured++;
      return measurePeakInChild(runtime, threads);
    };
    const first = await new PeakCache(cacheDir).obtain('onnxruntime-node', 'v-test', 2, measureOnce);
    expect(first.cached).toBe(false);
    expect(first.peak.threads).toBe(2);
    // stored under the runtime's real version; asked again for that version by a new cache object (a restarted agent)
    const version = first.peak.runtime_version;
    const restarted = new PeakCache(cacheDir);
    const again = await restarted.obtain('onnxruntime-node', version, 2, measureOnce);
    // a peak measured on a busy machine (this one is shared) is measured once more; a quiet one is read back
    const busy = first.peak.background_load?.busy === true;
    if (!busy) expect(again).toEqual({ peak: first.peak, cached: true });
    expect(measured).toBe(busy ? 2 : 1);
    expect(await restarted.obtain('onnxruntime-node', version, 2, measureOnce)).toEqual({
      peak: again.peak,
      cached: true,
    });
    expect(await new PeakCache(cacheDir).find('onnxruntime-node', version, 2)).toEqual(again.peak);
    expect(measured).toBe(busy ? 2 : 1);
    const before = measured;
    // another thread count is another peak
    expect(await new PeakCache(cacheDir).find('onnxruntime-node', version, 1)).toBeNull();

    const warnings: string[] = [];
    writeFileSync(
      path.join(cacheDir, 'device-peak.json'),
      '{"format": 1, "peaks": [{"runtime": "onnxruntime-node", "threads": "two"}',
    );
    const damaged = new PeakCache(cacheDir, (l) => warnings.push(l));
    const redone = await damaged.obtain('onnxruntime-node', version, 2, measureOnce);
    expect(redone.cached).toBe(false);
    expect(measured).toBe(before + 1);
    expect(warnings.join('\n')).toMatch(/device peak cache .*device-peak\.json is damaged \(not JSON/);
    // rewritten whole: readable again
    expect(await new PeakCache(cacheDir).find('onnxruntime-node', version, 2)).toEqual(redone.peak);

    writeFileSync(
      path.join(cacheDir, 'device-peak.json'),
      JSON.stringify({ format: 1, peaks: [{ ...redone.peak, matmul_gflops: -1 }] }),
    );
    const invalid: string[] = [];
    expect(await new PeakCache(cacheDir, (l) => invalid.push(l)).find('onnxruntime-node', version, 2)).toBeNull();
    expect(invalid.join('\n')).toMatch(/damaged \(peaks\.0\.matmul_gflops/);

    // s4op-agent info lists what is cached; s4op-agent peak reads it back without measuring
    await new PeakCache(cacheDir).put(redone.peak);
    const info = await runCli(AGENT_CLI, ['info', '--cache-dir', cacheDir]);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain(
      `device peak onnxruntime-node ${version}, 2 threads: MatMul ${redone.peak.matmul_gflops} GFLOP/s`,
    );
    const json = await runCli(AGENT_CLI, ['info', '--json', '--cache-dir', cacheDir]);
    expect(JSON.parse(json.stdout).device_peaks).toEqual([redone.peak]);
    const shown = await runCli(AGENT_CLI, ['peak', '--threads', '2', '--json', '--cache-dir', cacheDir]);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual(redone.peak);
    const bad = await runCli(AGENT_CLI, ['peak', '--threads', '0', '--cache-dir', cacheDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--threads must be an integer in 1–256, got "0"/);
    const empty = await runCli(AGENT_CLI, ['info', '--cache-dir', path.join(dir, 'no-peaks')]);
    expect(empty.stdout).toMatch(/device peak: none cached in .*no-peaks yet/);
  });
});

describe('s4op bench --profile', () => {
  it('prints achieved GFLOP/s against the device peak, where the time goes, and the background load', async () => {
    const FAST_FLAGS = ['--warmup-ms', '20', '--warmup-runs', '2', '--min-duration-ms', '150', '--min-samples', '10'];
    const r = await runCli(HOST_CLI, ['bench', '--model', ours.path, '--profile', ...FAST_FLAGS], {
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /work [\d.]+ MFLOP per run: [\d.]+ GFLOP\/s, [\d.]+ % of this device's MatMul peak \([\d.]+ GFLOP\/s at 1 thread\)/,
    );
    expect(r.stdout).toMatch(/profile \(20 runs, kernels [\d.]+ of [\d.]+ ms per profiled run\):/);
    expect(r.stdout).toMatch(/by section: ssm [\d.]+ ms \(\d+ %, [\d.]+ GFLOP\/s\), mixing .*norm .*other /);
    expect(r.stdout).toMatch(/by node type: \w+ [\d.]+/);
    expect(r.stdout).toMatch(/^background load: other processes used \d+ % of the CPU \([\d.]+ of \d+ cores\)/m);
    const json = await runCli(HOST_CLI, ['bench', '--model', foreign.path, '--json', '--profile', ...FAST_FLAGS], {
      timeoutMs: 120_000,
    });
    const out = JSON.parse(json.stdout) as {
      measurement: { settings: { profile?: boolean }; models: { profile: { by_section: unknown } }[] };
    };
    expect(out.measurement.settings.profile).toBe(true);
    expect(out.measurement.models[0]!.profile.by_section).toBeNull();
  });
});
