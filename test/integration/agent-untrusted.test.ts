/**
 * Issue 19, agent side: a real agent process against a raw host (a plain WebSocket server saying exactly
 * what a broken or hostile host would). A broken transfer fails its job and clears the "wanted" state, a
 * wrong declared size and a model referencing external data are refused, and the inference API bounds
 * bodies by the model's inputs (refusing a declared length before reading), rejects values out of the
 * input's type range and answers `?output=__proto__` with a 400.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { DEFAULT_SETTINGS, encodeModel, sha256Hex } from '../../shared/dist/index.js';
import { AGENT_CLI, killAll, startCli, type LiveProcess } from '../helpers/processes.js';
import { rawPeer, tmpDir, type RawPeer } from '../helpers/fleet.js';
import { externalDataModel, mlpModel } from '../../host/src/testing/onnx-models.js';

const FAST = { ...DEFAULT_SETTINGS, warmup_ms: 10, warmup_runs: 2, min_duration_ms: 50, min_samples: 8 };
const cacheDir = tmpDir('s4op-untrusted-agent-');
let wss: WebSocketServer;
let agent: LiveProcess;
let host: RawPeer;
let inferUrl = '';

beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 64 * 2 ** 20 });
  await new Promise((r) => wss.once('listening', r));
  const ready = new Promise<RawPeer>((resolve) => {
    wss.on('connection', (ws) => {
      const peer = rawPeer(ws);
      void peer
        .next((m) => m.type === 'hello', 60_000)
        .then(() => {
          peer.send({ type: 'welcome', protocol: 1, host_version: 'test', heartbeat_ms: 1000 });
          resolve(peer);
        });
    });
  });
  const port = (wss.address() as { port: number }).port;
  agent = startCli(
    AGENT_CLI,
    [
      '--host',
      `ws://127.0.0.1:${port}`,
      '--name',
      'untrusted',
      '--cache-dir',
      cacheDir,
      '--disable-runtime',
      'onnxruntime-web',
      '--serve-port',
      '0',
    ],
    { env: { S4OP_TOKEN: 't' } },
  );
  host = await ready;
  inferUrl = (await agent.waitFor(/inference API listening on/)).replace(/.*listening on /, '').trim();
}, 120_000);
afterAll(async () => {
  await agent?.stop();
  wss?.close();
  killAll();
});

const job = (id: string, bytes: Uint8Array, size = bytes.length) => ({
  type: 'job',
  job_id: id,
  mode: 'single',
  models: [{ sha256: sha256Hex(bytes), size }],
  settings: FAST,
});
const result = (id: string) => host.next((m) => m.type === 'result' && m.job_id === id, 60_000);

describe('broken transfers fail the job and clear the wanted state', () => {
  it('bad magic, a count of 0 and a frame under 52 bytes each fail their job; the next job asks again and measures', async () => {
    const bytes = mlpModel({ width: 24, layers: 2, seed: 7 });
    const sha = sha256Hex(bytes);
    const good = encodeModel(bytes);
    const badMagic = Buffer.from(good[0]!);
    badMagic.write('XXXX', 0);
    const countZero = Buffer.from(good[0]!);
    countZero.writeUInt32BE(0, 44);
    const tiny = Buffer.from('S4CH-short');
    for (const [i, frame, why] of [
      [1, badMagic, /does not start with "S4CH"/],
      [2, countZero, /count of 0/],
      [3, tiny, /shorter than the 52-byte chunk header/],
    ] as const) {
      host.send(job(`broken-${i}`, bytes));
      await host.next((m) => m.type === 'need_model' && m.sha256 === sha);
      host.ws.send(frame);
      expect(await result(`broken-${i}`)).toMatchObject({
        measurement: null,
        error: { code: 'bad_transfer', message: expect.stringMatching(why) },
      });
    }
    host.send(job('after-broken', bytes));
    await host.next((m) => m.type === 'need_model' && m.sha256 === sha);
    for (const f of good) host.ws.send(f);
    expect(await result('after-broken')).toMatchObject({ error: null, measurement: { models: [{ sha256: sha }] } });
  });

  it('bytes of another size than the job declared are refused before they are assembled', async () => {
    const bytes = mlpModel({ width: 12, layers: 1, seed: 8 });
    host.send(job('wrong-size', bytes, bytes.length + 100));
    await host.next((m) => m.type === 'need_model' && m.sha256 === sha256Hex(bytes));
    for (const f of encodeModel(bytes)) host.ws.send(f);
    expect(await result('wrong-size')).toMatchObject({
      error: { code: 'bad_transfer', message: expect.stringMatching(/the job declared/) },
    });
  });
});

describe('models are untrusted input', () => {
  it('the agent runs in an empty working directory of its own (inside its cache folder)', () => {
    expect(readlinkSync(`/proc/${agent.child.pid}/cwd`)).toBe(path.join(realpathSync(cacheDir), 'work'));
  });

  it('a model whose initializer reads external data (etc/passwd) is refused and never stored', async () => {
    const bytes = externalDataModel('etc/passwd');
    const sha = sha256Hex(bytes);
    host.send(job('external', bytes));
    await host.next((m) => m.type === 'need_model' && m.sha256 === sha);
    for (const f of encodeModel(bytes)) host.ws.send(f);
    expect(await result('external')).toMatchObject({
      error: {
        code: 'bad_model',
        message: expect.stringMatching(/tensor "w" references external data at "etc\/passwd"/),
      },
    });
    expect(existsSync(path.join(cacheDir, 'models', `${sha}.onnx`))).toBe(false);
  });
});

describe('the inference API bounds what it takes', () => {
  it("refuses a declared body above the model's need at once, a value out of float32 range, and ?output=__proto__", async () => {
    const bytes = mlpModel({ width: 24, layers: 2, seed: 7 });
    host.send({ type: 'activate', deployment_id: 'dep-1', model: { sha256: sha256Hex(bytes), size: bytes.length } });
    expect(await host.next((m) => m.type === 'model_state', 60_000)).toMatchObject({ error: null });
    // x is float32 [1, 24]: a few KB of JSON at most; 200 MB declared is refused before a byte is read
    const t0 = Date.now();
    const huge = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL('/v1/infer', inferUrl);
      const req = http.request(
        url,
        { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(200 * 2 ** 20) } },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.write('{"inputs":');
    });
    expect(huge.status).toBe(413);
    expect(huge.body).toMatch(/exceeds the limit of \d+ bytes: the active model's inputs need at most \d+ bytes/);
    expect(Date.now() - t0).toBeLessThan(2000);
    const post = (body: unknown, query = '', type = 'application/json') =>
      fetch(`${inferUrl}/v1/infer${query}`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: body as string,
      });
    const data = Array.from({ length: 24 }, () => 0.5);
    data[3] = 1e39;
    const big = await post(JSON.stringify({ inputs: { x: { dims: [1, 24], data } } }));
    expect(big.status).toBe(400);
    expect(await big.text()).toMatch(/data\[3\] = 1e\+39 is out of its range/);
    const raw = Buffer.from(new Float32Array(24).fill(0.25).buffer);
    for (const name of ['__proto__', 'constructor']) {
      const res = await post(raw, `?shape=1,24&output=${name}`, 'application/octet-stream');
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'unknown_output',
        message: expect.stringContaining(`no output "${name}"`),
      });
    }
    // and it still serves
    const ok = await post(JSON.stringify({ inputs: { x: { dims: [1, 24], data: data.map(() => 0.5) } } }));
    expect(ok.status).toBe(200);
    // eight stalled uploads hold what it reads at once: a ninth is told to come back, and it serves again after
    const stalled = Array.from({ length: 8 }, () => {
      const req = http.request(new URL('/v1/infer', inferUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': '500' },
      });
      req.on('error', () => undefined);
      req.write('{"inputs":');
      return req;
    });
    await new Promise((r) => setTimeout(r, 300));
    const ninth = await post(JSON.stringify({ inputs: { x: { dims: [1, 24], data: data.map(() => 0.5) } } }));
    expect(ninth.status).toBe(503);
    expect(await ninth.text()).toMatch(/8 request bodies are being received already/);
    for (const r of stalled) r.destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect((await post(JSON.stringify({ inputs: { x: { dims: [1, 24], data: data.map(() => 0.5) } } }))).status).toBe(
      200,
    );
  });
});

describe('the measurement process dies with its agent', () => {
  it('kill -9 of the agent mid-measurement: its measurement process is gone within a second (not a zombie)', async () => {
    const bytes = mlpModel({ width: 64, layers: 4, seed: 11 });
    host.send({ ...job('long', bytes), settings: { ...FAST, min_duration_ms: 30_000, max_samples: 10_000_000 } });
    await host.next((m) => m.type === 'need_model' && m.sha256 === sha256Hex(bytes));
    for (const f of encodeModel(bytes)) host.ws.send(f);
    await host.next((m) => m.type === 'job_status' && m.job_id === 'long' && m.state === 'running', 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    const kids = execFileSync('pgrep', ['-P', String(agent.child.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
    expect(kids.length).toBeGreaterThan(0);
    const alive = (pid: number) => {
      try {
        return !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    };
    agent.child.kill('SIGKILL');
    const t0 = Date.now();
    while (kids.some(alive) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    const left = kids.filter(alive);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    expect(left).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
