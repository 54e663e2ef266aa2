import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  MAX_TEXT_FRAME_BYTES,
  PROTOCOL_VERSION,
  encodeMessage,
  parseAgentMessage,
  parseHostMessage,
  resolveSettings,
  type AgentMessage,
} from '@s4op/shared';

const SHA = 'a'.repeat(64);
const hello: AgentMessage = {
  type: 'hello',
  protocol: PROTOCOL_VERSION,
  token: 't',
  agent_id: 'agent-1',
  name: 'pi-07',
  tags: ['pi4', 'lab'],
  agent_version: '0.1.0',
  runtimes: [{ name: 'onnxruntime-web', version: '1.23.0', available: true }],
  device: {
    hostname: 'h',
    cpu_model: 'Cortex-A72',
    cores: 4,
    cpu_max_mhz: 1800,
    cpu_current_mhz: null,
    memory_total_mb: 3800,
    os: 'Debian 12',
    arch: 'arm64',
    temperature_c: 48.3,
    board_model: 'Raspberry Pi 4 Model B Rev 1.4',
  },
};

describe('protocol messages', () => {
  it('round-trips every message type through encode and parse', () => {
    expect(parseAgentMessage(encodeMessage(hello))).toEqual({ ok: true, message: hello });
    const job = {
      type: 'job' as const,
      job_id: 'j1',
      mode: 'single' as const,
      models: [{ sha256: SHA, size: 10 }],
      settings: DEFAULT_SETTINGS,
    };
    expect(parseHostMessage(encodeMessage(job))).toEqual({ ok: true, message: job });
    for (const m of [
      { type: 'welcome', protocol: 1, host_version: '0.1.0', heartbeat_ms: 2000 },
      { type: 'cancel', job_id: 'j1' },
      { type: 'ack', job_id: 'j1' },
      { type: 'error', code: 'bad_field', message: 'x', field: 'a.b' },
    ])
      expect(parseHostMessage(JSON.stringify(m))).toEqual({ ok: true, message: m });
    for (const m of [
      { type: 'job_status', job_id: 'j1', state: 'queued', position: 2 },
      { type: 'need_model', sha256: SHA },
      { type: 'model_stored', sha256: SHA },
      { type: 'result', job_id: 'j1', measurement: null, error: { code: 'timeout', message: 'slow' } },
    ])
      expect(parseAgentMessage(JSON.stringify(m))).toEqual({ ok: true, message: m });
  });

  it('names malformed JSON, non-objects, missing and unknown types', () => {
    const bad = (text: string) => {
      const r = parseAgentMessage(text);
      if (r.ok) throw new Error(`accepted ${text}`);
      return r.error;
    };
    expect(bad('{"type":')).toMatchObject({ code: 'bad_json' });
    expect(bad('[1,2]')).toMatchObject({ code: 'bad_json', message: 'a message must be a JSON object' });
    expect(bad('null').code).toBe('bad_json');
    expect(bad('{"x":1}')).toMatchObject({ code: 'bad_field', field: 'type' });
    expect(bad('{"type":"launch_missiles"}')).toMatchObject({ code: 'unknown_type', field: 'type' });
    expect(bad('{"type":"launch_missiles"}').message).toContain('"launch_missiles"');
    // a host-only type is unknown in the agent → host direction
    expect(bad('{"type":"job"}').code).toBe('unknown_type');
  });

  it('names the bad field, nested and unknown ones too', () => {
    const r1 = parseAgentMessage(JSON.stringify({ ...hello, device: { ...hello.device, cores: -1 } }));
    expect(r1).toMatchObject({ ok: false, error: { code: 'bad_field', field: 'device.cores' } });
    const r2 = parseAgentMessage(JSON.stringify({ ...hello, tags: ['ok', 'not ok!'] }));
    expect(r2).toMatchObject({ ok: false, error: { field: 'tags.1' } });
    const r3 = parseAgentMessage(JSON.stringify({ ...hello, surprise: 1 }));
    expect(r3).toMatchObject({ ok: false, error: { field: 'surprise' } });
    const r4 = parseHostMessage(
      JSON.stringify({ type: 'job', job_id: 'j', mode: 'ab', models: [{ sha256: SHA, size: 1 }], settings: {} }),
    );
    expect(r4).toMatchObject({ ok: false, error: { field: 'models' } });
    const r5 = parseHostMessage(
      JSON.stringify({ type: 'job', job_id: 'j', mode: 'single', models: [{ sha256: 'ABC', size: 1 }], settings: {} }),
    );
    expect(r5).toMatchObject({ ok: false, error: { field: 'models.0.sha256' } });
    const r6 = parseAgentMessage(JSON.stringify({ type: 'result', job_id: 'j', measurement: null, error: null }));
    expect(r6).toMatchObject({ ok: false, error: { field: 'measurement' } });
  });

  it('refuses oversized text frames before parsing them', () => {
    const r = parseHostMessage(JSON.stringify({ type: 'ack', job_id: 'x'.repeat(MAX_TEXT_FRAME_BYTES) }));
    expect(r).toMatchObject({ ok: false, error: { code: 'frame_too_large' } });
  });

  it('fills setting defaults and rejects bad settings by field', () => {
    expect(resolveSettings({})).toEqual(DEFAULT_SETTINGS);
    expect(DEFAULT_SETTINGS.min_samples).toBeGreaterThanOrEqual(64);
    expect(DEFAULT_SETTINGS.min_duration_ms).toBeGreaterThanOrEqual(1000);
    expect(resolveSettings({ threads: 4, dims: { batch: 8 } })).toMatchObject({ threads: 4, dims: { batch: 8 } });
    expect(() => resolveSettings({ threads: 0 })).toThrow(/field "threads"/);
    expect(() => resolveSettings({ dims: { batch: 1.5 } })).toThrow(/field "dims.batch"/);
    expect(() => resolveSettings({ warmpu_ms: 3 })).toThrow(/unknown field "warmpu_ms"/);
  });

  it('will not send an invalid message', () => {
    expect(() => encodeMessage({ ...hello, name: '' })).toThrow(/invalid hello message: field "name"/);
  });
});
