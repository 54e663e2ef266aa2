/**
 * Fuzz: mutated and random frames thrown at both ends on loopback for a bounded time (seeded, so a
 * failure replays). Afterwards both processes must still be running and still do real work.
 */
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { DEFAULT_SETTINGS, encodeModel, sha256Hex } from '../../shared/dist/index.js';
import { AGENT_CLI, killAll, startCli, startServe } from '../helpers/processes.js';
import { hello, rawPeer, tmpDir, type RawPeer } from '../helpers/fleet.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';

afterAll(killAll);

const FUZZ_MS = 3000;
const FAST = { ...DEFAULT_SETTINGS, warmup_ms: 10, warmup_runs: 2, min_duration_ms: 50, min_samples: 8 };

function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}
type Rng = ReturnType<typeof rng>;

const WEIRD: unknown[] = [
  null,
  -1,
  0,
  1e308,
  -0.5,
  NaN,
  '',
  'x'.repeat(5000),
  [],
  {},
  true,
  [1, [2, [3]]],
  { type: 'hello' },
  '\u0000\uffff',
  2 ** 53 + 1,
];

function mutateValue(r: Rng, v: unknown, depth = 0): unknown {
  if (depth > 3 || typeof v !== 'object' || v === null) return r.next() < 0.5 ? r.pick(WEIRD) : v;
  const o: Record<string, unknown> = Array.isArray(v) ? { ...v } : { ...(v as Record<string, unknown>) };
  const keys = Object.keys(o);
  const op = r.int(4);
  if (op === 0 && keys.length) delete o[r.pick(keys)];
  else if (op === 1) o[r.pick([...keys, 'extra', 'type'])] = r.pick(WEIRD);
  else if (op === 2 && keys.length) {
    const k = r.pick(keys);
    o[k] = mutateValue(r, o[k], depth + 1);
  } else o.type = r.pick(['hello', 'job', 'result', 'ack', 'cancel', 'welcome', 'error', 'need_model', 'zzz', 7]);
  return Array.isArray(v) ? Object.values(o) : o;
}

function mutateText(r: Rng, text: string): string {
  const i = r.int(text.length + 1);
  switch (r.int(4)) {
    case 0:
      return text.slice(0, i) + String.fromCharCode(32 + r.int(95)) + text.slice(i + 1);
    case 1:
      return text.slice(0, i) + text.slice(i + 1 + r.int(20));
    case 2:
      return text.slice(0, i) + text.slice(r.int(text.length));
    default:
      // structural mutation when the text still parses, else one more character flip
      try {
        return JSON.stringify(mutateValue(r, JSON.parse(text)));
      } catch {
        return text.slice(0, i) + '"' + text.slice(i);
      }
  }
}

function randomFrame(
  r: Rng,
  valid: readonly unknown[],
  chunks: readonly Buffer[],
): { data: string | Buffer; binary: boolean } {
  const kind = r.int(6);
  if (kind === 0) return { data: Buffer.from(Array.from({ length: r.int(200) }, () => r.int(256))), binary: true };
  if (kind === 1 && chunks.length) {
    const c = Buffer.from(r.pick(chunks));
    for (let k = 0; k < 1 + r.int(4); k++) c[r.int(Math.min(c.length, 80))] = r.int(256);
    return { data: c, binary: true };
  }
  if (kind === 2)
    return {
      data: Array.from({ length: r.int(100) }, () => String.fromCharCode(32 + r.int(95))).join(''),
      binary: false,
    };
  const base = JSON.stringify(r.pick(valid));
  let t = base;
  for (let k = 0; k < 1 + r.int(3); k++) t = mutateText(r, t);
  return { data: t, binary: false };
}

const ofHost = (sha: string) => [
  { type: 'welcome', protocol: 1, host_version: 'x', heartbeat_ms: 1000 },
  { type: 'job', job_id: 'fz', mode: 'single', models: [{ sha256: sha, size: 10 }], settings: FAST },
  {
    type: 'job',
    job_id: 'fz-ab',
    mode: 'ab',
    models: [
      { sha256: sha, size: 10 },
      { sha256: sha, size: 10 },
    ],
    settings: FAST,
  },
  { type: 'cancel', job_id: 'fz' },
  { type: 'ack', job_id: 'fz' },
  { type: 'error', code: 'bad_field', message: 'm', field: 'a' },
];
const ofAgent = (token: string) => [
  hello(token),
  { type: 'job_status', job_id: 'fz', state: 'queued', position: 1 },
  { type: 'need_model', sha256: 'c'.repeat(64) },
  { type: 'model_stored', sha256: 'c'.repeat(64) },
  { type: 'result', job_id: 'fz', measurement: null, error: { code: 'timeout', message: 'x' } },
  { type: 'error', code: 'bad_json', message: 'x' },
];

async function openWs(url: string): Promise<WebSocket | null> {
  const ws = new WebSocket(url);
  ws.on('error', () => undefined);
  return new Promise((resolve) => {
    ws.once('open', () => resolve(ws));
    ws.once('close', () => resolve(null));
  });
}

describe('fuzz', () => {
  it('the host survives mutated and random frames, before and after auth, and still serves a real job', async () => {
    // The fuzzer is refused hundreds of times a second: the refusal throttle (its own test) would turn it away.
    const host = await startServe(['--max-refusals', '0']);
    const r = rng(20261129);
    const valid = ofAgent(host.token);
    const chunks = encodeModel(mlpModel({ width: 8, layers: 1 }), 100).map((c) => Buffer.from(c));
    let frames = 0;
    let replies = 0;
    const end = Date.now() + FUZZ_MS;
    while (Date.now() < end) {
      const ws = await openWs(host.url);
      if (!ws) continue;
      ws.on('message', () => replies++);
      // half the connections authenticate first, so the fuzz reaches the post-auth parser too
      if (r.next() < 0.5) ws.send(JSON.stringify(hello(host.token, { name: `fz-${r.int(1000)}` })));
      for (let k = 0; k < 20 && ws.readyState === WebSocket.OPEN; k++) {
        const f = randomFrame(r, valid, chunks);
        ws.send(f.data, { binary: f.binary });
        frames++;
      }
      await new Promise((res) => setTimeout(res, 20));
      ws.terminate();
    }
    expect(frames).toBeGreaterThan(200);
    expect(replies).toBeGreaterThan(50);
    expect(host.child.exitCode).toBeNull();

    const agent = startCli(
      AGENT_CLI,
      ['--host', host.url, '--name', 'after-fuzz', '--cache-dir', tmpDir(), '--disable-runtime', 'onnxruntime-web'],
      { env: { S4OP_TOKEN: host.token } },
    );
    await agent.waitFor(/connected to/);
    const res = await fetch(host.url.replace(/^ws/, 'http') + '/v1/measure', {
      method: 'POST',
      headers: { authorization: `Bearer ${host.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        agent: 'after-fuzz',
        settings: FAST,
        models: [{ base64: Buffer.from(mlpModel({ width: 16, layers: 2 })).toString('base64') }],
      }),
    });
    expect(res.status).toBe(200);
    expect(
      ((await res.json()) as { measurement: { models: { latency_ms: { n: number } }[] } }).measurement.models[0]!
        .latency_ms.n,
    ).toBeGreaterThanOrEqual(8);
  });

  it('the agent survives mutated and random frames from its host and still measures', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((res) => wss.once('listening', res));
    const peers: RawPeer[] = [];
    wss.on('connection', (ws) => {
      const peer = rawPeer(ws);
      void peer
        .next((m) => m.type === 'hello', 30_000)
        .then(
          () => {
            peer.send({ type: 'welcome', protocol: 1, host_version: 'fuzz', heartbeat_ms: 1000 });
            peers.push(peer);
          },
          () => undefined,
        );
    });
    const port = (wss.address() as { port: number }).port;
    const agent = startCli(
      AGENT_CLI,
      [
        '--host',
        `ws://127.0.0.1:${port}`,
        '--name',
        'fuzzed',
        '--cache-dir',
        tmpDir(),
        '--disable-runtime',
        'onnxruntime-web',
      ],
      { env: { S4OP_TOKEN: 't' } },
    );
    for (let i = 0; i < 200 && peers.length < 1; i++) await new Promise((res) => setTimeout(res, 100));
    expect(peers.length).toBe(1);

    const r = rng(7);
    const model = mlpModel({ width: 20, layers: 2 });
    const sha = sha256Hex(model);
    const valid = ofHost('d'.repeat(64));
    const chunks = encodeModel(mlpModel({ width: 8, layers: 1 }), 100).map((c) => Buffer.from(c));
    let frames = 0;
    const end = Date.now() + FUZZ_MS;
    while (Date.now() < end) {
      const peer = peers[peers.length - 1]!;
      if (peer.ws.readyState !== WebSocket.OPEN) {
        await new Promise((res) => setTimeout(res, 50));
        continue;
      }
      for (let k = 0; k < 20; k++) {
        const f = randomFrame(r, valid, chunks);
        peer.ws.send(f.data, { binary: f.binary });
        frames++;
      }
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(frames).toBeGreaterThan(200);
    expect(agent.child.exitCode).toBeNull();
    const errors = peers.flatMap((p) => p.texts.filter((m) => m.type === 'error'));
    expect(errors.length).toBeGreaterThan(20);
    for (const e of errors) expect(typeof e.message).toBe('string');

    // still measures: a real job with real bytes on the current link
    await new Promise((res) => setTimeout(res, 300));
    const peer = peers[peers.length - 1]!;
    peer.send({
      type: 'job',
      job_id: 'after-fuzz',
      mode: 'single',
      models: [{ sha256: sha, size: model.length }],
      settings: FAST,
    });
    await peer.next((m) => m.type === 'need_model' && m.sha256 === sha);
    for (const f of encodeModel(model)) peer.ws.send(f);
    const result = await peer.next((m) => m.type === 'result' && m.job_id === 'after-fuzz', 30_000);
    expect(result).toMatchObject({ error: null, measurement: { models: [{ sha256: sha }] } });
    expect(agent.child.exitCode).toBeNull();
    wss.close();
  });
});
