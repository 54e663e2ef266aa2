/**
 * The host's HTTP API on fastify, with real requests to a real server on 127.0.0.1 (no mocks): bodies that
 * are not JSON, fields of the wrong type on every endpoint that takes a body, a missing or wrong token and a
 * body over the limit each get a clear 4xx that names the problem; the server keeps serving, and nothing it
 * stored (an agent's registration, a finished deployment) is lost. The one client (hostApi) parses answers
 * with the shared schemas and turns refusals into ServerCallErrors.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../../host/dist/fleet/index.js';
import { ServerCallError, hostApi, serverRef } from '../../host/dist/fleet/http/client.js';
import { RunStore } from '../../host/dist/store/run-store.js';
import { startSimAgents, type SimAgent } from '../../scripts/bench/sim-agent.js';
import { tmpDir } from '../helpers/fleet.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';

const TOKEN = 'api-token';
const dir = tmpDir('s4op-http-api-');
let fleet: Fleet;
let store: RunStore;
let agents: SimAgent[] = [];
let base: string;
const b64 = Buffer.from(mlpModel({ width: 4, layers: 1, seed: 3 })).toString('base64');

async function call(
  method: string,
  route: string,
  body?: string,
  token: string | null = TOKEN,
): Promise<{ status: number; json: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body,
  });
  return { status: res.status, json: (await res.json()) as never };
}

async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let deploymentId: string;

beforeAll(async () => {
  store = RunStore.openWorkspace(path.join(dir, 'ws'));
  fleet = await startFleet({
    port: 0,
    bind: '127.0.0.1',
    token: TOKEN,
    heartbeatMs: 1000,
    log: () => undefined,
    workspace: { store, dir: path.join(dir, 'ws') },
  });
  base = fleet.server.url.replace(/^ws/, 'http');
  agents = startSimAgents({ url: fleet.server.url, token: TOKEN, count: 1, prefix: 'api', measureMs: 5 });
  await until(() => fleet.server.size === 1, 15_000, 'the agent connected');
  // Something stored before the bad requests: a finished deployment.
  const ref = serverRef(base, TOKEN);
  const d = await hostApi.deploy(ref, {
    model: { base64: b64, name: 'kept.onnx' },
    to: 'tag:sim',
    canary: '0',
    waves: 1,
    settings: { min_duration_ms: 1 },
  });
  deploymentId = d.id;
  await until(
    async () => (await hostApi.deployment(ref, d.id)).status !== 'running',
    20_000,
    'the deployment finished',
  );
}, 60_000);

afterAll(async () => {
  for (const a of agents) a.stop();
  await fleet?.stop();
  store?.close();
});

describe('the HTTP API refuses bad requests clearly and keeps serving', () => {
  it('a body that is not JSON, or not an object, is a 400 that says so', async () => {
    for (const route of ['/v1/measure', '/v1/deployments']) {
      const bad = await call('POST', route, '{"models": [');
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/^body is not JSON: /),
      });
      const list = await call('POST', route, '[1, 2]');
      expect(list.status).toBe(400);
      expect(list.json.error!.message).toBe('body must be a JSON object');
    }
  });

  it('fields of the wrong type are a 400 naming the field, on every endpoint with a body', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['/v1/measure', { models: 'x' }, /field "models" must list one model \(two for A\/B\)/],
      ['/v1/measure', { models: [] }, /field "models" must list one model/],
      ['/v1/measure', { models: [{ base64: 7 }] }, /field "models\.0\.base64" must be a base64 string/],
      ['/v1/measure', { agent: 5, models: [{ base64: b64 }] }, /field "agent" must be a string/],
      [
        '/v1/measure',
        { wait_for_agent_ms: 'soon', models: [{ base64: b64 }] },
        /field "wait_for_agent_ms" must be a non-negative number/,
      ],
      ['/v1/measure', { job_id: 'a b', models: [{ base64: b64 }] }, /field "job_id": job_id "a b" is not/],
      ['/v1/deployments', { model: { base64: b64 }, to: 'tag:sim', waves: 'x' }, /field "waves" must be a number/],
      [
        '/v1/deployments',
        { model: { base64: b64 }, to: 5 },
        /field "to" must be a target such as tag:pi4 or agent:NAME/,
      ],
      ['/v1/deployments', { model: {}, to: 'tag:sim' }, /field "model\.base64" must hold the ONNX bytes as base64/],
      ['/v1/deployments', { to: 'tag:sim' }, /field "model" must be \{base64, name\?, source\?\}/],
      [
        '/v1/deployments',
        { model: { base64: b64, source: { kind: 'x' } }, to: 'tag:sim' },
        /field "model\.source\.kind" must be "candidate" or "file"/,
      ],
      [
        '/v1/deployments',
        { model: { base64: b64 }, to: 'tag:sim', lab: { agent: 'a', p50_ms: 'fast' } },
        /field "lab\.p50_ms" must be a finite number or null/,
      ],
      ['/v1/deployments', { model: { base64: b64 }, to: 'tag:sim', canary: 10 }, /field "canary" must be a string/],
    ];
    for (const [route, body, message] of cases) {
      const r = await call('POST', route, JSON.stringify(body));
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error!.code).toBe('bad_request');
      expect(r.json.error!.message).toMatch(message);
    }
    // Values of the right type but out of range are still the plan's to refuse, in its words.
    const waves = await call(
      'POST',
      '/v1/deployments',
      JSON.stringify({ model: { base64: b64 }, to: 'tag:sim', waves: 0 }),
    );
    expect(waves.status).toBe(400);
    expect(waves.json.error!.message).toMatch(/--waves must be an integer in 1–100/);
    const offset = await call('GET', '/v1/fleet?offset=-1');
    expect(offset.status).toBe(400);
    expect(offset.json.error!.message).toMatch(/query "offset" must be a non-negative integer/);
  });

  it('a missing or wrong token is a 401 on every route of /v1/, before any body is read', async () => {
    const routes: [string, string, string | undefined][] = [
      ['GET', '/v1/agents', undefined],
      ['POST', '/v1/measure', JSON.stringify({ models: [{ base64: b64 }] })],
      ['GET', '/v1/deployments', undefined],
      ['POST', '/v1/deployments', '{not json'],
      ['GET', `/v1/deployments/${deploymentId}`, undefined],
      ['POST', `/v1/deployments/${deploymentId}/rollback`, undefined],
      ['GET', '/v1/fleet', undefined],
      ['DELETE', '/v1/fleet/agents/api-0000', undefined],
      ['GET', '/v1/no-such-route', undefined],
    ];
    for (const [method, route, body] of routes) {
      const missing = await call(method, route, body, null);
      expect(missing.status, `${method} ${route}`).toBe(401);
      expect(missing.json.error).toEqual({ code: 'unauthorized', message: 'missing token (Authorization: Bearer …)' });
      const wrong = await call(method, route, body, 'not-the-token');
      expect(wrong.status, `${method} ${route}`).toBe(401);
      expect(wrong.json.error).toEqual({ code: 'unauthorized', message: 'wrong token' });
    }
  });

  it('a body over the limit is a 413 that gives the limit', async () => {
    const big = await call(
      'POST',
      '/v1/deployments',
      JSON.stringify({ model: { base64: 'A'.repeat(65 * 2 ** 20) }, to: 'tag:sim' }),
    );
    expect(big.status).toBe(413);
    expect(big.json.error).toMatchObject({
      code: 'too_large',
      message: expect.stringMatching(/^request body of \d+ bytes exceeds the limit of 67108864 bytes$/),
    });
  });

  it('after all of that the server still serves, and what it stored is all there', async () => {
    const ref = serverRef(base, TOKEN);
    const { agents: known } = await hostApi.agents(ref);
    expect(known.map((a) => [a.name, a.online])).toEqual([['api-0000', true]]);
    const deployments = await hostApi.deployments(ref);
    expect(deployments.map((d) => [d.id, d.model_name])).toEqual([[deploymentId, 'kept.onnx']]);
    expect(deployments[0]!.status).toBe('succeeded');
    const page = await hostApi.fleet(ref, 0, 10);
    expect(page.agents.map((a) => [a.name, a.active_sha256 !== null])).toEqual([['api-0000', true]]);
    expect(fleet.jobs.list()).toEqual([]);
    // A good measurement still goes through, answered and parsed with the shared schema.
    const outcome = await hostApi.measure(ref, {
      agent: 'api-0000',
      models: [{ name: 'm.onnx', base64: b64 }],
      settings: { min_duration_ms: 1 },
    });
    expect(outcome.agent.name).toBe('api-0000');
    expect(outcome.measurement.models).toHaveLength(1);
  });

  it('the client turns refusals and an unreachable server into ServerCallErrors', async () => {
    await expect(hostApi.agents(serverRef(base, 'wrong'))).rejects.toMatchObject({
      name: 'ServerCallError',
      code: 'unauthorized',
      status: 401,
      message: 'wrong token',
    });
    await expect(hostApi.deployment(serverRef(base, TOKEN), 'nope')).rejects.toMatchObject({
      code: 'unknown_deployment',
      status: 404,
    });
    const gone = await hostApi.agents(serverRef('http://127.0.0.1:1', TOKEN)).catch((err: unknown) => err);
    expect(gone).toBeInstanceOf(ServerCallError);
    expect((gone as ServerCallError).code).toBe('unreachable');
  });
});
