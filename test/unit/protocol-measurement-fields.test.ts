/**
 * The optional measurement fields of issues 13/14 at the protocol edge: settings.profile is absent by
 * default (old cache keys stay) and part of the key when set; the new Measurement fields are optional,
 * checked, and recognised when an old host refuses them; withoutExtensions gives what such a host accepts.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  Measurement,
  isMeasurementExtension,
  parseHostMessage,
  resolveSettings,
  withoutExtensions,
} from '@s4op/shared';
import { toMeasurement } from '../../agent/src/measure/measure.js';
import { RunStore, canonicalJson } from '../../host/src/store/run-store.js';

const SHA = 'b'.repeat(64);
const snap = { temperature_c: null, cpu_mhz: null, throttle: null };

function measurement(extra: Record<string, unknown> = {}, settings = resolveSettings({ profile: true })): Measurement {
  return toMeasurement(
    {
      runtime: { name: 'onnxruntime-node', version: '1.30.0', settings: {} },
      models: [
        {
          sha256: SHA,
          size_bytes: 10,
          inputs: [],
          load_ms: 1,
          first_run_ms: 1,
          samples: [2, 2, 2, 2],
          declared: { flops: 1e6, by_section: { ssm: 6e5, mixing: 3e5, norm: 5e4, other: 5e4 }, batch: 2 },
          profile: {
            runs: 20,
            run_ms: 3,
            kernel_ms: 2,
            by_op_type: { MatMul: 2 },
            by_section: { ssm: 1, mixing: 0.5, norm: 0.25, other: 0.25 },
          },
        },
      ],
      ratios: null,
      warmup: { runs: 1, ms: 1 },
      rss: { baseline: 1, after_load: 1, after_first_run: 1, peak: 1 },
      cpu_ms: 10,
    },
    settings,
    { thermal: { before: snap, after: snap, throttled: false }, started_at: 'now', duration_ms: 5, ...extra },
  );
}

const peak = {
  runtime: 'onnxruntime-node' as const,
  runtime_version: '1.30.0',
  threads: 1,
  matmul_gflops: 4,
  matmul_by_size: { '256': 4 },
  bandwidth_gbs: 10,
  measured_at: 'now',
};

describe('optional measurement fields', () => {
  it('settings.profile: absent by default, a boolean, part of the cache key', () => {
    expect('profile' in DEFAULT_SETTINGS).toBe(false);
    expect(canonicalJson(resolveSettings({}))).not.toMatch(/profile/);
    expect(() => resolveSettings({ profile: 'yes' })).toThrow(/field "profile": .*boolean/i);
    const job = {
      type: 'job',
      job_id: 'j',
      mode: 'single',
      models: [{ sha256: SHA, size: 1 }],
      settings: { ...DEFAULT_SETTINGS, profile: 1 },
    };
    const r = parseHostMessage(JSON.stringify(job));
    expect(r.ok === false && r.error.field).toBe('settings.profile');
    const store = RunStore.open(path.join(mkdtempSync(path.join(os.tmpdir(), 's4op-profile-key-')), 'runs.sqlite'));
    try {
      store.addMeasurement({
        model_sha256: SHA,
        agent: 'pi',
        settings: resolveSettings({ profile: true }),
        kind: 'measured',
        p50_ms: 3,
        p90_ms: 3,
      });
      expect(store.findMeasurement(SHA, 'pi', resolveSettings({}))).toBeUndefined();
      expect(store.findMeasurement(SHA, 'pi', resolveSettings({ profile: true }))?.p50_ms).toBe(3);
    } finally {
      store.close();
    }
  });

  it('achieved GFLOP/s from declared work × batch over the median, its peak fraction, and section rates', () => {
    const m = measurement({ device_peak: peak, background_load: null });
    expect(Measurement.safeParse(m).success).toBe(true);
    const f = m.models[0]!;
    // 1 MFLOP per element × batch 2 in 2 ms = 1 GFLOP/s; a quarter of the 4 GFLOP/s peak
    expect(f.declared_flops).toBe(2e6);
    expect(f.achieved_gflops).toBeCloseTo(1, 9);
    expect(f.peak_fraction).toBeCloseTo(0.25, 9);
    // ssm: half the kernel time → 1 ms of the 2 ms median for 1.2 MFLOP → 1.2 GFLOP/s
    expect(f.profile!.gflops_by_section).toEqual({ ssm: 1.2, mixing: 1.2, norm: 0.4, other: 0.4 });
    expect(measurement({ device_peak: null }).models[0]!.peak_fraction).toBeNull();
  });

  it('are optional, and checked when present', () => {
    const m = measurement({ device_peak: peak, background_load: null });
    expect(Measurement.safeParse(withoutExtensions(m)).success).toBe(true);
    const bad = {
      ...m,
      background_load: {
        other_cpu_fraction: 1.5,
        other_cpu_cores: 3,
        cores: 2,
        loadavg_1m: null,
        busy: true,
        busy_threshold: 0.25,
      },
    };
    expect(Measurement.safeParse(bad).success).toBe(false);
    const extra = { ...m, models: [{ ...m.models[0]!, gflops: 3 }] };
    expect(Measurement.safeParse(extra).success).toBe(false);
  });

  it('recognises an old host refusing them, and strips them all (and settings.profile)', () => {
    for (const f of [
      'measurement.background_load',
      'measurement.device_peak',
      'measurement.models.0.achieved_gflops',
      'measurement.models.1.profile',
      'measurement.models.0.profile_error',
    ]) {
      expect(isMeasurementExtension(f), f).toBe(true);
    }
    for (const f of [
      'measurement.thermal',
      'measurement.models.0.latency_ms',
      'measurement.achieved_gflops',
      'settings.profile',
      'measurement.models.0.profile.runs',
    ]) {
      expect(isMeasurementExtension(f), f).toBe(false);
    }
    const plain = withoutExtensions(measurement({ device_peak: peak, background_load: null }));
    expect(Object.keys(plain)).not.toContain('device_peak');
    expect(Object.keys(plain)).not.toContain('background_load');
    expect(Object.keys(plain.models[0]!).sort()).toEqual([
      'first_run_ms',
      'inputs',
      'latency_ms',
      'load_ms',
      'sha256',
      'size_bytes',
    ]);
    expect('profile' in plain.settings).toBe(false);
  });
});
