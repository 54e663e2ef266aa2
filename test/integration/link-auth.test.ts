/**
 * The link between real processes on loopback: `s4op serve` and `s4op-agent`. Handshake contents, auth
 * before any work, protocol-version refusal on both sides, TLS, heartbeats that find a dead peer within
 * seconds, and reconnect with backoff.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { AGENT_CLI, killAll, startCli, startServe, type LiveProcess } from '../helpers/processes.js';
import { connectRaw, freePort, hello, rawPeer, tmpDir } from '../helpers/fleet.js';

afterEach(killAll);

// Agents here measure nothing: all but the first test skip probing the (slow to start) WASM runtime.
const agent = (
  url: string,
  token: string,
  name: string,
  extra: string[] = ['--disable-runtime', 'onnxruntime-web'],
  env: NodeJS.ProcessEnv = {},
): LiveProcess =>
  startCli(AGENT_CLI, ['--host', url, '--name', name, '--cache-dir', tmpDir('s4op-agent-'), ...extra], {
    env: { S4OP_TOKEN: token, ...env },
  });

async function agentsOf(url: string, token: string) {
  const res = await fetch(url.replace(/^ws/, 'http') + '/v1/agents', { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as {
    agents: {
      name: string;
      tags: string[];
      online: boolean;
      runtimes: { name: string; available: boolean; version: string | null }[];
      device: Record<string, unknown>;
    }[];
  };
}

describe('link: handshake and auth', () => {
  it('registers an agent with its tags, runtimes and device facts', async () => {
    const host = await startServe();
    const a = agent(host.url, host.token, 'pi-07', ['--tags', 'pi4,lab']);
    await host.waitFor(/agent pi-07 .* connected from 127\.0\.0\.1/);
    await a.waitFor(/connected to ws:\/\/127\.0\.0\.1/);
    const { agents } = await agentsOf(host.url, host.token);
    const rec = agents.find((x) => x.name === 'pi-07')!;
    expect(rec.online).toBe(true);
    expect(rec.tags).toEqual(['pi4', 'lab']);
    expect(rec.runtimes.map((r) => [r.name, r.available])).toEqual([
      ['onnxruntime-node', true],
      ['onnxruntime-web', true],
    ]);
    expect(rec.device).toMatchObject({ arch: process.arch, cores: expect.any(Number) });
    expect((rec.device.cores as number) > 0).toBe(true);
    // the HTTP API wants the token too
    const denied = await fetch(host.url.replace(/^ws/, 'http') + '/v1/agents', {
      headers: { authorization: 'Bearer nope' },
    });
    expect(denied.status).toBe(401);
  });

  it('refuses a wrong token: the agent stops with the reason, the host logs it', async () => {
    const host = await startServe();
    const a = agent(host.url, 'not-the-token', 'intruder');
    expect(await a.exited).toBe(3);
    expect(a.lines.join('\n')).toMatch(/host refused the agent \(4001\): wrong token/);
    await host.waitFor(/refused agent from 127\.0\.0\.1:\d+ \(intruder\): wrong token/);
  });

  it('refuses a missing token, a first message that is not hello, and a binary first frame', async () => {
    const host = await startServe();
    const noToken = await connectRaw(host.url);
    noToken.send(hello(''));
    expect(await noToken.closed).toEqual({ code: 4001, reason: 'missing token' });
    expect(noToken.texts).toEqual([{ type: 'error', code: 'unauthorized', message: 'missing token' }]);
    const jumpy = await connectRaw(host.url);
    jumpy.send({ type: 'result', job_id: 'x', measurement: null, error: { code: 'timeout', message: 'x' } });
    expect((await jumpy.closed).reason).toMatch(/authenticate first/);
    const binary = await connectRaw(host.url);
    binary.ws.send(Buffer.from([1, 2, 3]));
    expect((await binary.closed).code).toBe(4001);
    const cli = startCli(AGENT_CLI, ['--host', host.url, '--cache-dir', tmpDir()], { env: { S4OP_TOKEN: '' } });
    expect(await cli.exited).toBe(2);
    expect(cli.lines.join('\n')).toMatch(/no token: pass --token T or set S4OP_TOKEN/);
    await host.waitFor(/missing token/);
  });

  it('refuses another protocol version on both sides, with a clear reason', async () => {
    const host = await startServe();
    const future = await connectRaw(host.url);
    future.send(hello(host.token, { protocol: 999, shiny_new_field: true }));
    expect(await future.closed).toEqual({
      code: 4000,
      reason: 'protocol version mismatch: host speaks 1, agent speaks 999',
    });
    expect(future.texts[0]).toMatchObject({ type: 'error', code: 'protocol_mismatch' });
    await host.waitFor(/protocol version mismatch/);

    // an agent meeting a host of another version
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => {
      const peer = rawPeer(ws);
      void peer
        .next((m) => m.type === 'hello')
        .then(() => peer.send({ type: 'welcome', protocol: 999, host_version: '9.9.9', heartbeat_ms: 1000 }));
    });
    const a = agent(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, 't', 'old-agent');
    expect(await a.exited).toBe(3);
    expect(a.lines.join('\n')).toMatch(/protocol version mismatch: host speaks 999, this agent speaks 1/);
    wss.close();
  });

  it('serves wss with the host certificate: --ca trusts it, no --ca refuses it, --insecure skips the check', async () => {
    const dir = tmpDir('s4op-tls-');
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const host = await startServe(['--tls-cert', cert, '--tls-key', key]);
    expect(host.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const trusted = agent(host.url, host.token, 'tls-ca', ['--ca', cert, '--disable-runtime', 'onnxruntime-web']);
    await trusted.waitFor(/connected to wss:/);
    const insecure = agent(host.url, host.token, 'tls-insecure', [
      '--insecure',
      '--disable-runtime',
      'onnxruntime-web',
    ]);
    await insecure.waitFor(/connected to wss:/);
    const untrusted = agent(host.url, host.token, 'tls-none');
    await untrusted.waitFor(/reconnecting in/);
    expect(untrusted.lines.some((l) => /connected to/.test(l))).toBe(false);
  });
});

describe('link: liveness', () => {
  it('finds a frozen agent within seconds, and the agent comes back by itself', async () => {
    const host = await startServe(['--heartbeat-ms', '300']);
    const a = agent(host.url, host.token, 'sleepy');
    await a.waitFor(/connected to/);
    const t0 = Date.now();
    a.child.kill('SIGSTOP');
    await host.waitFor(/agent sleepy silent for \d+ ms: dropping it/, 10_000);
    expect(Date.now() - t0).toBeLessThan(3000);
    a.child.kill('SIGCONT');
    await host.waitFor(/agent sleepy .* disconnected/);
    // back on its own through the reconnect loop
    const before = a.lines.filter((l) => /connected to/.test(l)).length;
    await new Promise((r) => setTimeout(r, 100));
    await (async () => {
      for (let i = 0; i < 100; i++) {
        if (a.lines.filter((l) => /connected to/.test(l)).length > before) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`agent did not reconnect:\n${a.lines.slice(-10).join('\n')}`);
    })();
  });

  it('finds a frozen host within seconds', async () => {
    const host = await startServe(['--heartbeat-ms', '300']);
    const a = agent(host.url, host.token, 'watcher');
    await a.waitFor(/connected to/);
    const t0 = Date.now();
    host.child.kill('SIGSTOP');
    await a.waitFor(/host silent for \d+ ms: dropping the link/, 10_000);
    expect(Date.now() - t0).toBeLessThan(3000);
    host.child.kill('SIGCONT');
  });

  it('reconnects with growing, jittered delays until the host appears', async () => {
    const port = await freePort();
    const a = agent(`ws://127.0.0.1:${port}`, 'late-token', 'early-bird');
    for (let i = 0; i < 60 && a.lines.filter((l) => /reconnecting in/.test(l)).length < 4; i++)
      await new Promise((r) => setTimeout(r, 100));
    const delays = a.lines
      .map((l) => /reconnecting in (\d+) ms/.exec(l))
      .filter(Boolean)
      .map((m) => Number(m![1]));
    expect(delays.length).toBeGreaterThanOrEqual(3);
    // each delay lies in [cap/2, cap] with cap = 250·2^k: doubling on average, never below half the cap
    delays.slice(0, 4).forEach((d, k) => {
      expect(d).toBeGreaterThanOrEqual(125 * 2 ** k);
      expect(d).toBeLessThanOrEqual(250 * 2 ** k);
    });
    const host = startCli((await import('../helpers/processes.js')).HOST_CLI, [
      'serve',
      '--port',
      String(port),
      '--token',
      'late-token',
      '--workspace',
      tmpDir('s4op-late-ws-'),
    ]);
    await host.waitFor(/listening on/);
    await a.waitFor(/connected to/, 15_000);
  });
});
