/**
 * Issue 19, host side: every peer is untrusted. Ids are checked where they enter (no phantom job, no timer
 * that throws), replies count only from the agent a job was sent to and only for the job's model, names
 * and ids are bound to the agent's key at their first registration, refused handshakes are throttled
 * and logged safely, request bodies are bounded, and `s4op fleet status` stays bounded and paged.
 * Real fleet server, real WebSocket peers on 127.0.0.1, real HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../../host/dist/fleet/index.js';
import { fleetText, pageFleet, type FleetAgentView } from '../../host/dist/fleet/deploy/view.js';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { RunStore } from '../../host/dist/store/run-store.js';
import { connectRaw, hello, tmpDir, type RawPeer } from '../helpers/fleet.js';
import { AGENT_CLI, HOST_CLI, killAll, runCli, startCli } from '../helpers/processes.js';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { mlpModel } from '../../host/src/testing/onnx-models.js';

const TOKEN = 'untrusted-token';
let fleet: Fleet | null = null;
const logs: string[] = [];
const peers: RawPeer[] = [];

async function host(opts: Partial<Parameters<typeof startFleet>[0]> = {}): Promise<Fleet> {
  logs.length = 0;
  fleet = await startFleet({ port: 0, token: TOKEN, heartbeatMs: 500, log: (l) => logs.push(l), ...opts });
  return fleet;
}

async function agent(
  overrides: Record<string, unknown> = {},
): Promise<{ peer: RawPeer; welcome: Record<string, unknown>; hello: Record<string, unknown> }> {
  const peer = await connectRaw(fleet!.server.url);
  peers.push(peer);
  const h = hello(TOKEN, overrides);
  peer.send(h);
  const welcome = await peer.next((m) => m.type === 'welcome' || m.type === 'error');
  return { peer, welcome, hello: h };
}

afterEach(async () => {
  killAll();
  for (const p of peers.splice(0)) p.ws.terminate();
  await fleet?.stop();
  fleet = null;
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${fleet!.server.url.replace('ws:', 'http:')}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const model = mlpModel({ width: 4, layers: 1 });
const b64 = Buffer.from(model).toString('base64');

function fakeMeasurement(sha256: string, size: number): Record<string, unknown> {
  const stats = {
    n: 16,
    min: 1,
    max: 1,
    median: 1,
    mean: 1,
    p90: 1,
    p99: 1,
    std: 0,
    cv: 0,
    median_ci: { low: 1, high: 1, confidence: 0.95 },
  };
  const snap = { temperature_c: null, cpu_mhz: null, throttle: null };
  return {
    runtime: { name: 'onnxruntime-node', version: 'FAKE', settings: {} },
    settings: {
      runtime: 'auto',
      threads: 1,
      graph_optimization: 'all',
      arena: true,
      warmup_ms: 0,
      warmup_runs: 0,
      min_duration_ms: 0,
      min_samples: 1,
      max_samples: 1,
      dims: {},
      default_dim: 1,
      shapes: {},
      confidence: 0.95,
      timeout_ms: 1000,
    },
    mode: 'single',
    models: [{ sha256, size_bytes: size, inputs: [], load_ms: 1, first_run_ms: 1, latency_ms: stats }],
    ratio: null,
    warmup: { runs: 0, ms: 0 },
    memory_mb: {
      baseline_rss: 1,
      after_load_rss: 1,
      after_first_run_rss: 1,
      peak_rss: 1,
      load_added: 0,
      first_run_added: 0,
    },
    thermal: { before: snap, after: snap, throttled: false },
    started_at: new Date().toISOString(),
    duration_ms: 1,
  };
}

describe('ids are checked where they enter', () => {
  it('a job_id with a slash or a space is a 400 naming the field; nothing is left pending; the host keeps running', async () => {
    await host();
    await agent({ name: 'legit' });
    for (const bad of ['bad/id', 'my job 1', '', 'x'.repeat(129)]) {
      const res = await post('/v1/measure', { agent: 'legit', job_id: bad, models: [{ base64: b64 }] });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/job_id/);
    }
    expect(fleet!.jobs.list()).toEqual([]);
    await expect(
      fleet!.jobs.submit({ target: { agent: 'legit' }, models: [{ bytes: model }], job_id: 'bad/id' }),
    ).rejects.toMatchObject({ code: 'bad_request' });
    expect(fleet!.jobs.list()).toEqual([]);
    // s4op bench says so before it starts anything, with or without --server
    const file = path.join(tmpDir('s4op-bench-id-'), 'm.onnx');
    writeFileSync(file, model);
    for (const extra of [[], ['--server', fleet!.server.url.replace('ws:', 'http:'), '--token', TOKEN]]) {
      const r = await runCli(HOST_CLI, ['bench', '--model', file, '--job-id', 'bad/id', ...extra]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--job-id: job_id "bad\/id" is not 1–128 characters/);
    }
    expect(fleet!.jobs.list()).toEqual([]);
    // the host still serves: a good id goes out
    const job = fleet!.jobs.submit({
      target: { agent: 'legit' },
      models: [{ bytes: model }],
      job_id: 'good-id',
      settings: { timeout_ms: 100 },
      graceMs: 100,
    });
    await peers[0]!.next((m) => m.type === 'job' && m.job_id === 'good-id');
    await expect(job).rejects.toMatchObject({ code: 'timeout' });
    expect(await peers[0]!.next((m) => m.type === 'cancel')).toEqual({ type: 'cancel', job_id: 'good-id' });
  });
});

describe("replies belong to the job's agent and model", () => {
  it('a result, an unknown_job error or a status from another agent changes nothing; a result for another model fails the job', async () => {
    await host();
    const legit = await agent({ name: 'legit' });
    const rogue = await agent({ name: 'rogue' });
    const sha = (await import('../../shared/dist/index.js')).sha256Hex(model);
    const job = fleet!.jobs.submit({ target: { agent: 'legit' }, models: [{ bytes: model }], job_id: 'owned-1' });
    const sent = await legit.peer.next((m) => m.type === 'job');
    expect(sent.job_id).toBe('owned-1');
    // the rogue answers for it: a fake result, then an unknown_job error, then a status
    rogue.peer.send({
      type: 'result',
      job_id: 'owned-1',
      measurement: fakeMeasurement('f'.repeat(64), 1),
      error: null,
    });
    expect(await rogue.peer.next((m) => m.type === 'error')).toMatchObject({ code: 'unknown_job', job_id: 'owned-1' });
    rogue.peer.send({ type: 'error', code: 'unknown_job', message: 'not mine', job_id: 'owned-1' });
    rogue.peer.send({ type: 'job_status', job_id: 'owned-1', state: 'queued', position: 9 });
    await new Promise((r) => setTimeout(r, 200));
    expect(fleet!.jobs.list()).toEqual([{ job_id: 'owned-1', agent: 'legit', state: 'sent' }]);
    expect(logs.some((l) => /result for job owned-1 from rogue .* ignored: the job was sent to legit/.test(l))).toBe(
      true,
    );
    // the right agent with a measurement of another model: refused, the job fails saying why
    legit.peer.send({
      type: 'result',
      job_id: 'owned-1',
      measurement: fakeMeasurement('f'.repeat(64), 1),
      error: null,
    });
    await expect(job).rejects.toMatchObject({
      code: 'agent_error',
      message: expect.stringMatching(/does not belong to this job: model 0 measured is ffffffffffff…, the job's is/),
    });
    // and the honest answer is accepted
    const again = fleet!.jobs.submit({ target: { agent: 'legit' }, models: [{ bytes: model }], job_id: 'owned-2' });
    await legit.peer.next((m) => m.type === 'job' && m.job_id === 'owned-2');
    legit.peer.send({
      type: 'result',
      job_id: 'owned-2',
      measurement: fakeMeasurement(sha, model.length),
      error: null,
    });
    expect((await again).agent.name).toBe('legit');
  });

  it('a result for a job this host does not know is acknowledged and logged', async () => {
    await host();
    const a = await agent({ name: 'late' });
    a.peer.send({
      type: 'result',
      job_id: 'from-before-restart',
      measurement: null,
      error: { code: 'timeout', message: 'x' },
    });
    expect(await a.peer.next((m) => m.type === 'ack')).toEqual({ type: 'ack', job_id: 'from-before-restart' });
    expect(logs.some((l) => /result for unknown job from-before-restart from late/.test(l))).toBe(true);
    // what an authenticated peer says is logged on one line too
    a.peer.send({
      type: 'error',
      code: 'bad_json',
      message: 'oops\n2026-01-01T00:00:00Z s4op serve: agent admin connected',
    });
    await expect.poll(() => logs.some((l) => l.includes('agent late reports bad_json'))).toBe(true);
    expect(logs.every((l) => !l.includes('\n'))).toBe(true);
    expect(logs.find((l) => l.includes('agent late reports bad_json'))).toContain('oops\\n2026');
  });
});

const newKey = () => randomBytes(32).toString('base64url');

describe('identity: agent id bound to its key, names unique', () => {
  it('binds the id to the key of its first hello; the id without it, or with another, is refused; an impostor name is refused', async () => {
    await host();
    const key = newKey();
    const first = await agent({ name: 'board-7', agent_id: 'board-7-id', agent_key: key });
    expect(first.welcome.type).toBe('welcome');
    expect(
      logs.some((l) => /agent board-7 \(board-7-id\) connected .*first registration: id bound to its key/.test(l)),
    ).toBe(true);
    first.peer.ws.close();
    await first.peer.closed;
    // same id without its key (someone who read the id off fleet status)
    const noKey = await agent({ name: 'board-7', agent_id: 'board-7-id' });
    expect(noKey.welcome).toMatchObject({
      type: 'error',
      code: 'unauthorized',
      message: expect.stringMatching(/registered with a key and this hello carries none/),
    });
    expect((await noKey.peer.closed).code).toBe(4001);
    const wrongKey = await agent({ name: 'board-7', agent_id: 'board-7-id', agent_key: newKey() });
    expect(wrongKey.welcome).toMatchObject({ type: 'error', message: expect.stringMatching(/wrong agent key/) });
    // another id with the same name: refused, so --agent board-7 never reaches it
    const impostor = await agent({ name: 'board-7', agent_key: newKey() });
    expect(impostor.welcome).toMatchObject({
      type: 'error',
      message: expect.stringMatching(/the name "board-7" belongs to agent board-7-id/),
    });
    await expect(
      fleet!.jobs.submit({ target: { agent: 'board-7' }, models: [{ bytes: model }], waitForAgentMs: 100 }),
    ).rejects.toMatchObject({ code: 'no_agent' });
    // the real board, with its key, is back and gets the jobs addressed to its name
    const back = await agent({ name: 'board-7', agent_id: 'board-7-id', agent_key: key });
    expect(back.welcome.type).toBe('welcome');
    const job = fleet!.jobs.submit({
      target: { agent: 'board-7' },
      models: [{ bytes: model }],
      job_id: 'to-the-board',
    });
    expect(await back.peer.next((m) => m.type === 'job')).toMatchObject({ job_id: 'to-the-board' });
    fleet!.jobs.cancel('to-the-board');
    void job.catch(() => undefined);
    // an agent from before keys is let in (its welcome has nothing it would not know) and logged as unprotected
    const legacy = await agent({ name: 'old-board' });
    expect(Object.keys(legacy.welcome).sort()).toEqual(['heartbeat_ms', 'host_version', 'protocol', 'type']);
    expect(logs.some((l) => /agent old-board .*no agent key: an agent from before per-agent keys/.test(l))).toBe(true);
  });

  it('a real agent makes its key at first start (owner-only file) and is let in again with it after a restart', async () => {
    await host();
    const dir = tmpDir('s4op-key-agent-');
    const run = () =>
      startCli(
        AGENT_CLI,
        ['--host', fleet!.server.url, '--name', 'keyed', '--cache-dir', dir, '--disable-runtime', 'onnxruntime-web'],
        { env: { S4OP_TOKEN: TOKEN } },
      );
    let a = run();
    await a.waitFor(/connected to/);
    const file = path.join(dir, 'agent-key');
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o077).toBe(0);
    await a.stop();
    a = run();
    await a.waitFor(/connected to/);
    await a.stop();
    expect(logs.filter((l) => /refused agent/.test(l))).toEqual([]);
  });
});

describe('identity in the run store', () => {
  it('keeps keys and names across a server restart; s4op fleet forget frees them (not while the agent is online)', async () => {
    const dir = tmpDir('s4op-identity-');
    const store = RunStore.openWorkspace(path.join(dir, 'ws'));
    try {
      await host({ workspace: { store, dir: path.join(dir, 'ws') } });
      const key = newKey();
      const first = await agent({ name: 'board-9', agent_id: 'board-9-id', agent_key: key });
      expect(first.welcome.type).toBe('welcome');
      const forget = (id: string) =>
        runCli(HOST_CLI, [
          'fleet',
          'forget',
          id,
          '--server',
          fleet!.server.url.replace('ws:', 'http:'),
          '--token',
          TOKEN,
        ]);
      const online = await forget('board-9-id');
      expect(online.code).toBe(2);
      expect(online.stderr).toMatch(/agent board-9-id is connected/);
      first.peer.ws.close();
      await first.peer.closed;
      await fleet!.stop();
      // a new server process on the same store still knows the key and the name
      await host({ workspace: { store, dir: path.join(dir, 'ws') } });
      expect((await agent({ name: 'board-9', agent_id: 'board-9-id' })).welcome).toMatchObject({
        type: 'error',
        message: expect.stringMatching(/carries none/),
      });
      expect((await agent({ name: 'board-9', agent_id: 'reflashed-id', agent_key: newKey() })).welcome).toMatchObject({
        type: 'error',
        message: expect.stringMatching(/belongs to agent board-9-id/),
      });
      expect((await agent({ name: 'board-9', agent_id: 'board-9-id', agent_key: key })).welcome.type).toBe('welcome');
      for (const p of peers.splice(0)) p.ws.terminate();
      await expect.poll(() => fleet!.server.size).toBe(0);
      const gone = await forget('board-9-id');
      expect(gone.code, gone.stderr).toBe(0);
      expect(gone.stdout).toMatch(/forgot agent board-9-id/);
      expect((await forget('board-9-id')).stderr).toMatch(/no registered agent with id board-9-id/);
      // the re-flashed board registers afresh under the freed name
      const fresh = await agent({ name: 'board-9', agent_id: 'reflashed-id', agent_key: newKey() });
      expect(fresh.welcome.type).toBe('welcome');
    } finally {
      for (const p of peers.splice(0)) p.ws.terminate();
      await fleet?.stop();
      fleet = null;
      store.close();
    }
  });
});

describe('refused handshakes', () => {
  it('logs a refused name escaped on one line, and turns an address away after repeated refusals', async () => {
    await host({ refusals: { max: 10, windowMs: 60_000 } });
    const p = await connectRaw(fleet!.server.url);
    p.send(hello('wrong', { name: 'evil\n2026-01-01T00:00:00Z s4op serve: agent admin connected' }));
    await p.closed;
    const line = logs.find((l) => l.startsWith('refused agent'))!;
    expect(line).toContain('evil\\n2026');
    expect(logs.some((l) => l.startsWith('2026-01-01'))).toBe(false);
    for (let i = 0; i < 12; i++) {
      const q = await connectRaw(fleet!.server.url).catch((err: Error) => err);
      if (q instanceof Error) break;
      q.send(hello('wrong'));
      await q.closed;
    }
    const turned = await connectRaw(fleet!.server.url).catch((err: Error) => err);
    expect(turned).toBeInstanceOf(Error);
    expect(String(turned)).toMatch(/429/);
    expect(logs.filter((l) => l.startsWith('refused agent')).length).toBeLessThanOrEqual(5);
  });
});

describe('HTTP bodies are bounded', () => {
  it('a declared body above the limit is a 413 before it is read; the server keeps answering', async () => {
    await host();
    // 600 MB declared, a few bytes sent: the answer comes at once, without waiting for (or holding) the rest
    const t0 = Date.now();
    const declared = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${fleet!.server.url.replace('ws:', 'http:')}/v1/measure`,
        {
          method: 'POST',
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'content-type': 'application/json',
            'content-length': String(600 * 2 ** 20),
          },
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.write('{"models":');
    });
    expect(declared.status).toBe(413);
    expect(declared.body).toMatch(/request body of 629145600 bytes exceeds the limit/);
    expect(Date.now() - t0).toBeLessThan(2000);
    const big = await post('/v1/measure', JSON.stringify({ models: [{ base64: 'A'.repeat(65 * 2 ** 20) }] }));
    expect(big.status).toBe(413);
    const ok = await fetch(`${fleet!.server.url.replace('ws:', 'http:')}/v1/agents`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(ok.status).toBe(200);
  });
});

describe('HTTP bodies read at once are bounded', () => {
  it('a fifth slow upload gets 503 with Retry-After; once they end, requests are served again', async () => {
    await host();
    const url = `${fleet!.server.url.replace('ws:', 'http:')}/v1/measure`;
    const slow = Array.from({ length: 4 }, () => {
      const req = httpRequest(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'content-length': String(1 << 20),
        },
      });
      req.on('error', () => undefined);
      req.write('{"models": [');
      return req;
    });
    await new Promise((r) => setTimeout(r, 300));
    const fifth = await post('/v1/measure', { models: [{ base64: b64 }] });
    expect(fifth.status).toBe(503);
    expect(fifth.headers.get('retry-after')).toBe('2');
    expect(((await fifth.json()) as { error: { message: string } }).error.message).toMatch(
      /4 request bodies are being received already/,
    );
    for (const r of slow) r.destroy();
    await new Promise((r) => setTimeout(r, 300));
    const after = await post('/v1/measure', { agent: 'nobody', wait_for_agent_ms: 50, models: [{ base64: b64 }] });
    expect(after.status).toBe(404);
  });
});

describe('fleet status stays bounded', () => {
  it('pages the agents and bounds each cell (64 tags do not make a 4 KB line)', () => {
    const agents: FleetAgentView[] = Array.from({ length: 300 }, (_, i) => ({
      id: `id-${i}`,
      name: `board-${String(i).padStart(3, '0')}`,
      tags: Array.from({ length: 64 }, (_, t) => `tag-number-${t}`),
      online: i % 2 === 0,
      last_seen: new Date(0).toISOString(),
      agent_version: '0',
      device: { cpu_model: 'c'.repeat(200), cores: 4, arch: 'arm64', memory_total_mb: 1, board_model: null },
      runtimes: [],
      active_sha256: null,
      active_deployment: null,
      previous_sha256: null,
      desired_sha256: null,
      health: 'none',
    }));
    const page = pageFleet(agents, 100, 50);
    expect(page).toMatchObject({ total: 300, online: 150, offset: 100 });
    expect(page.agents).toHaveLength(50);
    const text = fleetText(page.agents, page);
    const lines = text.split('\n');
    expect(lines).toHaveLength(52);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(300);
    expect(text).toMatch(/agents 101–150 of 300 \(150 online\)/);
  });
});
