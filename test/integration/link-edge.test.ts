/**
 * Bad input at both ends of the wire, frame by frame: each gets an error reply naming the problem and the
 * connection stays usable (oversized frames close that one socket, never the process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startFleet, type Fleet } from '../../host/dist/fleet/index.js';
import { ChunkAssembler, DEFAULT_SETTINGS, decodeChunk, encodeModel, sha256Hex } from '../../shared/dist/index.js';
import { AGENT_CLI, killAll, startCli } from '../helpers/processes.js';
import { connectRaw, hello, rawPeer, tmpDir, type RawPeer } from '../helpers/fleet.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';

afterAll(killAll);
const FAST = { ...DEFAULT_SETTINGS, warmup_ms: 10, warmup_runs: 2, min_duration_ms: 50, min_samples: 8 };

describe('host edge', () => {
  let fleet: Fleet;
  beforeAll(async () => {
    fleet = await startFleet({ port: 0, token: 'edge', log: () => undefined });
  });
  afterAll(() => fleet.stop());

  it('answers every bad frame from an agent by name and stays usable', async () => {
    const peer = await connectRaw(fleet.server.url);
    peer.send(hello('edge', { name: 'edgy' }));
    await peer.next((m) => m.type === 'welcome');
    const err = () => peer.next((m) => m.type === 'error');

    peer.send('{"type": "result", oops');
    expect(await err()).toMatchObject({ code: 'bad_json', message: expect.stringMatching(/^malformed JSON/) });
    peer.send({ type: 'frobnicate' });
    expect(await err()).toMatchObject({
      code: 'unknown_type',
      field: 'type',
      message: expect.stringContaining('"frobnicate"'),
    });
    peer.send({ type: 'job_status', job_id: 'j', state: 'flying', position: 0 });
    expect(await err()).toMatchObject({ code: 'bad_field', field: 'state' });
    peer.send({ type: 'need_model', sha256: 'xyz' });
    expect(await err()).toMatchObject({ code: 'bad_field', field: 'sha256' });
    peer.ws.send(Buffer.from('S4CH binary from an agent'));
    expect(await err()).toMatchObject({ code: 'unexpected', message: expect.stringMatching(/binary frames/) });
    peer.send({ type: 'model_stored', sha256: 'a'.repeat(64), pad: 'x'.repeat(300_000) });
    expect(await err()).toMatchObject({ code: 'frame_too_large' });
    peer.send(hello('edge'));
    expect(await err()).toMatchObject({ code: 'unexpected', message: expect.stringMatching(/already authenticated/) });
    peer.send({ type: 'need_model', sha256: 'b'.repeat(64) });
    expect(await err()).toMatchObject({ code: 'unknown_model', sha256: 'b'.repeat(64) });

    // still usable: a real request is served
    const bytes = mlpModel({ width: 300, layers: 4 });
    const ref = fleet.server.models.add(bytes);
    peer.send({ type: 'need_model', sha256: ref.sha256 });
    await expect.poll(() => peer.binaries.length, { timeout: 5000 }).toBe(Math.ceil(bytes.length / (256 * 1024)));
    const asm = new ChunkAssembler(ref.sha256);
    let out: Uint8Array | null = null;
    for (const b of peer.binaries) out = asm.push(decodeChunk(b));
    expect(Buffer.compare(Buffer.from(out!), Buffer.from(bytes))).toBe(0);

    // a frame above the hard cap closes this socket (1009), and only this one
    peer.ws.send(Buffer.alloc(5 * 2 ** 20));
    expect((await peer.closed).code).toBe(1009);
    const again = await connectRaw(fleet.server.url);
    again.send(hello('edge'));
    await again.next((m) => m.type === 'welcome');
    again.ws.close();
  });
});

describe('host deadlines', () => {
  it('fails a job whose agent never answers, names the last state, and cancels it on the agent', async () => {
    const fleet = await startFleet({ port: 0, token: 'edge', log: () => undefined });
    try {
      const peer = await connectRaw(fleet.server.url);
      peer.send(hello('edge', { name: 'silent' }));
      await peer.next((m) => m.type === 'welcome');
      const job = fleet.jobs.submit({
        target: { agent: 'silent' },
        models: [{ bytes: mlpModel({ width: 4, layers: 1 }) }],
        settings: { timeout_ms: 300 },
        graceMs: 200,
      });
      const sent = await peer.next((m) => m.type === 'job');
      // queued behind other work: no deadline runs while the agent says so
      peer.send({ type: 'job_status', job_id: sent.job_id, state: 'queued', position: 3 });
      await new Promise((r) => setTimeout(r, 900));
      expect(fleet.jobs.list()).toEqual([{ job_id: sent.job_id, agent: 'silent', state: 'queued' }]);
      peer.send({ type: 'job_status', job_id: sent.job_id, state: 'running', position: 0 });
      await expect(job).rejects.toMatchObject({
        code: 'timeout',
        message: expect.stringMatching(/got no result within 500 ms \(last state: running\); cancelled/),
      });
      expect(await peer.next((m) => m.type === 'cancel')).toEqual({ type: 'cancel', job_id: sent.job_id });
    } finally {
      await fleet.stop();
    }
  });
});

describe('agent edge', () => {
  let wss: WebSocketServer;
  const peers: RawPeer[] = [];
  const hellos: Record<string, unknown>[] = [];

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 64 * 2 ** 20 });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => {
      const peer = rawPeer(ws);
      void peer
        .next((m) => m.type === 'hello', 60_000)
        .then((h) => {
          hellos.push(h);
          peers.push(peer);
          peer.send({ type: 'welcome', protocol: 1, host_version: 'test', heartbeat_ms: 1000 });
        });
    });
    const port = (wss.address() as { port: number }).port;
    startCli(
      AGENT_CLI,
      [
        '--host',
        `ws://127.0.0.1:${port}`,
        '--name',
        'edge-agent',
        '--cache-dir',
        tmpDir(),
        '--disable-runtime',
        'onnxruntime-web',
      ],
      { env: { S4OP_TOKEN: 't' } },
    );
    for (let i = 0; i < 200 && peers.length < 1; i++) await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(() => wss.close());

  it('answers bad frames from the host by name, rejects bad transfers, and keeps serving', async () => {
    const host = peers[0]!;
    const err = () => host.next((m) => m.type === 'error');
    host.send('garbage{');
    expect(await err()).toMatchObject({ code: 'bad_json' });
    host.send({ type: 'frobnicate', x: 1 });
    expect(await err()).toMatchObject({ code: 'unknown_type', field: 'type' });
    const bytes = mlpModel({ width: 24, layers: 2 });
    const sha = sha256Hex(bytes);
    const job = (id: string, settings: Record<string, unknown> = FAST) => ({
      type: 'job',
      job_id: id,
      mode: 'single',
      models: [{ sha256: sha, size: bytes.length }],
      settings,
    });
    host.send(job('bad-settings', { ...FAST, threads: 0 }));
    expect(await err()).toMatchObject({ code: 'bad_field', field: 'settings.threads' });
    host.send({ type: 'cancel', job_id: 'never-sent' });
    expect(await err()).toMatchObject({ code: 'unknown_job', job_id: 'never-sent' });
    host.ws.send(encodeModel(bytes)[0]!);
    expect(await err()).toMatchObject({ code: 'unknown_model', sha256: sha });
    host.ws.send(Buffer.from('not a chunk frame'));
    expect(await err()).toMatchObject({
      code: 'bad_frame',
      message: expect.stringMatching(/shorter than the 52-byte chunk header/),
    });

    const frames = encodeModel(bytes, 1000);
    // chunks out of order
    host.send(job('j-order'));
    await host.next((m) => m.type === 'need_model' && m.sha256 === sha);
    host.ws.send(frames[1]!);
    expect(await err()).toMatchObject({
      code: 'chunk_order',
      sha256: sha,
      message: expect.stringMatching(/chunk 1 of .* arrived while chunk 0 was expected/),
    });
    expect(await host.next((m) => m.type === 'result' && m.job_id === 'j-order')).toMatchObject({
      measurement: null,
      error: { code: 'bad_transfer' },
    });

    // corrupt bytes under the right hash
    host.send(job('j-corrupt'));
    await host.next((m) => m.type === 'need_model' && m.sha256 === sha);
    const corrupt = Buffer.from(bytes);
    corrupt[corrupt.length - 5]! ^= 0x55;
    for (const f of encodeModel(corrupt, 1000, sha)) host.ws.send(f);
    expect(await err()).toMatchObject({ code: 'hash_mismatch', sha256: sha });
    expect(await host.next((m) => m.type === 'result' && m.job_id === 'j-corrupt')).toMatchObject({
      error: { code: 'hash_mismatch' },
    });

    // and then the real thing
    host.send(job('j-good'));
    await host.next((m) => m.type === 'need_model' && m.sha256 === sha);
    for (const f of frames) host.ws.send(f);
    await host.next((m) => m.type === 'model_stored' && m.sha256 === sha);
    const good = await host.next((m) => m.type === 'result' && m.job_id === 'j-good');
    expect(good).toMatchObject({ error: null, measurement: { models: [{ sha256: sha }] } });
    host.send({ type: 'ack', job_id: 'j-good' });

    // an oversized frame drops this link; the agent dials back as the same agent and re-sends
    // the results not yet acknowledged
    host.ws.send(Buffer.alloc(5 * 2 ** 20));
    await expect.poll(() => peers.length, { timeout: 15_000 }).toBe(2);
    expect(hellos[1]!.agent_id).toBe(hellos[0]!.agent_id);
    const back = peers[1]!;
    await back.next((m) => m.type === 'result' && m.job_id === 'j-order');
    await back.next((m) => m.type === 'result' && m.job_id === 'j-corrupt');
    expect(back.texts.some((m) => m.type === 'result' && m.job_id === 'j-good')).toBe(false);
    // the model stayed in the cache: no new transfer
    back.send(job('j-cached'));
    await back.next((m) => m.type === 'result' && m.job_id === 'j-cached');
    expect(back.texts.some((m) => m.type === 'need_model')).toBe(false);
  });
});
