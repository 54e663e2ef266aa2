/** What the protocol learned for browser agents: the kind in the hello, null RSS, the browser conditions, the board prefix. */
import { describe, expect, it } from 'vitest';
import {
  Hello,
  Measurement,
  isBrowserDevice,
  isMeasurementExtension,
  parseAgentMessage,
  withoutExtensions,
} from '../../shared/src/protocol.js';
import { concatBytes, decodeChunk, encodeModel, toHex } from '../../shared/src/framing.js';
import { sha256Hex } from '../../shared/src/hash.js';

const device = {
  hostname: '127.0.0.1',
  cpu_model: 'Chromium 140 tab',
  cores: 2,
  cpu_max_mhz: null,
  cpu_current_mhz: null,
  memory_total_mb: 0,
  os: 'Linux',
  arch: 'x86',
  temperature_c: null,
  board_model: 'browser: Chromium 140',
};
const hello = {
  type: 'hello',
  protocol: 1,
  token: 't',
  agent_id: 'browser-1',
  name: 'tab',
  tags: ['browser'],
  agent_version: '0.1.0',
  runtimes: [{ name: 'onnxruntime-web-webgpu', version: null, available: false, reason: 'no adapter' }],
  device,
  agent_kind: 'browser',
};

describe('protocol for browser agents', () => {
  it('a hello names its kind; an unknown kind is refused naming the field', () => {
    expect(Hello.parse(hello).agent_kind).toBe('browser');
    const bad = parseAgentMessage(JSON.stringify({ ...hello, agent_kind: 'phone' }));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.field).toBe('agent_kind');
  });

  it('tells a browser device by its board_model, never a board', () => {
    expect(isBrowserDevice(device)).toBe(true);
    expect(isBrowserDevice({ board_model: 'Raspberry Pi 4 Model B Rev 1.4' })).toBe(false);
    expect(isBrowserDevice({ board_model: null })).toBe(false);
  });

  it('browser conditions are an optional extension an older host can be spared', () => {
    expect(isMeasurementExtension('measurement.browser')).toBe(true);
    const shape = Measurement.shape.browser.unwrap();
    expect(() =>
      shape.parse({ hidden: false, cross_origin_isolated: true, memory: null, user_agent: 'x' }),
    ).not.toThrow();
    expect(() =>
      shape.parse({
        hidden: false,
        cross_origin_isolated: true,
        memory: { before_load_mb: -1, after_runs_mb: 1 },
        user_agent: 'x',
      }),
    ).toThrow();
    const m = { browser: { hidden: true }, models: [], settings: {} } as unknown as Measurement;
    expect(withoutExtensions(m)).not.toHaveProperty('browser');
  });

  it('memory_mb may be null (a tab has no RSS to read), but not absent', () => {
    expect(Measurement.shape.memory_mb.safeParse(null).success).toBe(true);
    expect(Measurement.shape.memory_mb.safeParse(undefined).success).toBe(false);
  });

  it('chunk frames still round-trip without Buffer (the page decodes them)', () => {
    const bytes = new Uint8Array(1000).map((_, i) => i % 251);
    const sha = sha256Hex(bytes);
    const chunks = encodeModel(bytes, 300).map((f) => decodeChunk(f));
    expect(chunks.every((c) => c.sha256 === sha)).toBe(true);
    expect(toHex(concatBytes(chunks.map((c) => c.payload)))).toBe(toHex(bytes));
  });
});
