/**
 * Runtime names on the wire are an open string with known values: messages naming the known runtimes and a
 * runtime added later both parse (no schema change, no protocol break), and what an older host sends — jobs
 * whose settings name `auto` or a known runtime, written against the former closed enum — still parses.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DEFAULT_SETTINGS,
  KNOWN_RUNTIMES,
  MeasureSettings,
  PROTOCOL_VERSION,
  RUNTIME_NAMES,
  RuntimeInfo,
  RuntimeName,
  encodeMessage,
  isKnownRuntime,
  parseAgentMessage,
  parseHostMessage,
} from '@s4op/shared';
import { RUNTIMES, pickRuntime, runtimeNames } from '../../agent/src/runtimes/registry.js';

const SHA = 'a'.repeat(64);
const hello = (runtimes: { name: string; version: string | null; available: boolean }[]) => ({
  type: 'hello',
  protocol: PROTOCOL_VERSION,
  token: 't',
  agent_id: 'agent-1',
  name: 'pi-07',
  tags: [],
  agent_version: '0.2.0',
  runtimes,
  device: {
    hostname: 'h',
    cpu_model: 'Cortex-A72',
    cores: 4,
    cpu_max_mhz: null,
    cpu_current_mhz: null,
    memory_total_mb: 3800,
    os: 'Debian 12',
    arch: 'arm64',
    temperature_c: null,
    board_model: null,
  },
});

/** The settings schema of a host from before this change: runtime a closed enum. */
const OldSettingsRuntime = z.enum(['auto', 'onnxruntime-node', 'onnxruntime-web']);

describe('runtime names', () => {
  it('the agent registry implements every runtime the protocol documents as known', () => {
    expect(runtimeNames()).toEqual(RUNTIMES.map((r) => r.name));
    for (const n of KNOWN_RUNTIMES) expect(runtimeNames()).toContain(n);
    expect(RUNTIME_NAMES).toBe(KNOWN_RUNTIMES);
    for (const n of KNOWN_RUNTIMES) expect(isKnownRuntime(n)).toBe(true);
    expect(isKnownRuntime('tflite-micro')).toBe(false);
  });

  it('a hello naming the known runtimes and one added later parses', () => {
    const m = hello([
      ...KNOWN_RUNTIMES.map((name) => ({ name, version: '1.30.0', available: true })),
      { name: 'tflite-micro', version: '2.0', available: true },
    ]);
    expect(parseAgentMessage(encodeMessage(m as never))).toEqual({ ok: true, message: m });
  });

  it('a job asking for an unknown runtime parses, and the agent answers it is not available', () => {
    const job = {
      type: 'job',
      job_id: 'j1',
      mode: 'single',
      models: [{ sha256: SHA, size: 10 }],
      settings: { ...DEFAULT_SETTINGS, runtime: 'tflite-micro' },
    };
    const parsed = parseHostMessage(JSON.stringify(job));
    expect(parsed.ok).toBe(true);
    const probed = runtimeNames().map((name) => ({ name, version: '1', available: true }));
    expect(pickRuntime('tflite-micro', probed)).toEqual({
      ok: false,
      reason: expect.stringMatching(/runtime tflite-micro is not available/),
    });
    expect(pickRuntime('auto', probed)).toEqual({ ok: true, name: runtimeNames()[0] });
  });

  it("an older host's messages still parse (settings written against the closed enum)", () => {
    for (const runtime of OldSettingsRuntime.options) {
      const job = {
        type: 'job',
        job_id: 'j2',
        mode: 'ab',
        models: [
          { sha256: SHA, size: 1 },
          { sha256: SHA, size: 1 },
        ],
        settings: { ...DEFAULT_SETTINGS, runtime },
      };
      expect(parseHostMessage(JSON.stringify(job))).toEqual({ ok: true, message: job });
    }
    // An older host's settings without a runtime default to auto, as before.
    expect(MeasureSettings.parse({}).runtime).toBe('auto');
  });

  it('names stay checked: empty, too long or with other characters are refused', () => {
    for (const name of ['', 'x'.repeat(65), 'Onnx Runtime', '../node'])
      expect(RuntimeInfo.safeParse({ name, version: null, available: false }).success, name).toBe(false);
  });

  // Every runtime of the agent's registry, a runtime added later included (registries-dummy.test.ts adds one).
  it.each(RUNTIMES.map((r) => [r.name] as const))(
    'runtime %s: a valid wire name, advertised in a hello, asked for by a job, picked when available',
    (name) => {
      expect(RuntimeName.safeParse(name).success).toBe(true);
      const m = hello([{ name, version: '1', available: true }]);
      expect(parseAgentMessage(encodeMessage(m as never))).toEqual({ ok: true, message: m });
      const job = {
        type: 'job',
        job_id: 'j3',
        mode: 'single',
        models: [{ sha256: SHA, size: 1 }],
        settings: { ...DEFAULT_SETTINGS, runtime: name },
      };
      expect(parseHostMessage(JSON.stringify(job))).toEqual({ ok: true, message: job });
      const probed = runtimeNames().map((n) => ({ name: n, version: '1', available: n === name }));
      expect(pickRuntime(name, probed)).toEqual({ ok: true, name });
      expect(pickRuntime('auto', probed)).toEqual({ ok: true, name });
    },
  );
});
