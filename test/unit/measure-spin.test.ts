/**
 * The `spin` measurement setting: optional in the protocol (absent keeps onnxruntime's default and the cache
 * keys of settings recorded before it existed), checked at the edge, and part of the measurement cache key.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, parseHostMessage, resolveSettings } from '@s4op/shared';
import { RunStore, canonicalJson } from '../../host/src/store/run-store.js';

const SHA = 'a'.repeat(64);

describe('spin setting', () => {
  it('is absent by default, so settings recorded before it keep their key', () => {
    expect('spin' in DEFAULT_SETTINGS).toBe(false);
    expect(canonicalJson(resolveSettings({ threads: 2 }))).not.toMatch(/spin/);
    expect(resolveSettings({ spin: false }).spin).toBe(false);
    expect(resolveSettings({ spin: true }).spin).toBe(true);
  });

  it('refuses a non-boolean and names the field', () => {
    expect(() => resolveSettings({ spin: '0' })).toThrow(/field "spin": .*boolean/i);
    const job = {
      type: 'job',
      job_id: 'j1',
      mode: 'single',
      models: [{ sha256: SHA, size: 1 }],
      settings: { ...DEFAULT_SETTINGS, spin: 0 },
    };
    const r = parseHostMessage(JSON.stringify(job));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ code: 'bad_field', field: 'settings.spin' });
    const ok = parseHostMessage(JSON.stringify({ ...job, settings: { ...DEFAULT_SETTINGS, spin: false } }));
    expect(ok.ok && ok.message.type === 'job' && ok.message.settings.spin).toBe(false);
  });

  it('is part of the measurement cache key of the run store', () => {
    const store = RunStore.open(path.join(mkdtempSync(path.join(os.tmpdir(), 's4op-spin-')), 'runs.sqlite'));
    try {
      const add = (settings: Record<string, unknown>, p50: number) =>
        store.addMeasurement({ model_sha256: SHA, agent: 'pi', settings, kind: 'measured', p50_ms: p50, p90_ms: p50 });
      add(resolveSettings({ threads: 2 }), 1);
      add(resolveSettings({ threads: 2, spin: false }), 2);
      expect(store.findMeasurement(SHA, 'pi', resolveSettings({ threads: 2 }))?.p50_ms).toBe(1);
      expect(store.findMeasurement(SHA, 'pi', resolveSettings({ threads: 2, spin: false }))?.p50_ms).toBe(2);
      expect(store.findMeasurement(SHA, 'pi', resolveSettings({ threads: 2, spin: true }))).toBeUndefined();
      expect(store.findMeasurement(SHA, 'pi', resolveSettings({ threads: 2, spin: false }))?.settings).toMatchObject({
        spin: false,
      });
    } finally {
      store.close();
    }
  });
});
