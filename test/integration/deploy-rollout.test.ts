/**
 * `s4op deploy` against a real `s4op serve` and three real agent processes on loopback: a rollout in three
 * waves; a canary that fails its gate stops the rollout and leaves every agent on its previous model; a
 * model that fails on the board; an agent killed mid-rollout converges after its restart; the active
 * model survives an agent restart; bad input (empty selector, unknown model, a gate that does not parse).
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { badShapeModel, mlpModel } from '../../host/src/testing/onnx-models.js';
import { tmpDir } from '../helpers/fleet.js';
import { AGENT_CLI, HOST_CLI, killAll, runCli, startCli, startServe, type LiveProcess } from '../helpers/processes.js';

const dir = tmpDir('s4op-deploy-');
const workspace = path.join(dir, 'ws');
// Field measurements kept short: the figures matter less here than the flow.
const FIELD = JSON.stringify({ warmup_ms: 0, warmup_runs: 2, min_duration_ms: 50, min_samples: 10 });
let host: Awaited<ReturnType<typeof startServe>>;
const agents = new Map<string, LiveProcess>();

function startAgent(name: string): LiveProcess {
  const p = startCli(
    AGENT_CLI,
    [
      '--host',
      host.url,
      '--name',
      name,
      '--tags',
      'lab',
      '--cache-dir',
      path.join(dir, `cache-${name}`),
      '--serve-port',
      '0',
      '--disable-runtime',
      'onnxruntime-web',
    ],
    {
      env: { S4OP_TOKEN: host.token },
    },
  );
  agents.set(name, p);
  return p;
}

async function inferenceUrl(p: LiveProcess): Promise<string> {
  return (await p.waitFor(/inference API listening on /)).replace(/.*listening on /, '').trim();
}

async function servedModel(p: LiveProcess): Promise<string | null> {
  const res = await fetch(`${await inferenceUrl(p)}/v1/model`);
  return ((await res.json()) as { sha256: string | null }).sha256;
}

function modelFile(name: string, bytes: Uint8Array): string {
  const f = path.join(dir, name);
  writeFileSync(f, bytes);
  return f;
}

const serverArgs = () => ['--server', host.url, '--token', host.token, '--workspace', workspace];

async function deploy(args: string[]) {
  const r = await runCli(HOST_CLI, ['deploy', ...serverArgs(), '--settings', FIELD, '--json', ...args], {
    timeoutMs: 90_000,
  });
  return {
    ...r,
    record: r.stdout.trim()
      ? (JSON.parse(r.stdout) as Record<string, unknown> & {
          id: string;
          status: string;
          reason: string | null;
          agents: {
            agent_name: string;
            state: string;
            stage: number;
            reason: string | null;
            field: Record<string, number | string> | null;
          }[];
          plan: { name: string; agents: string[] }[];
        })
      : null,
  };
}

async function fleet() {
  const r = await runCli(HOST_CLI, ['fleet', 'status', '--server', host.url, '--token', host.token, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (
    JSON.parse(r.stdout) as {
      agents: {
        name: string;
        online: boolean;
        active_sha256: string | null;
        previous_sha256: string | null;
        desired_sha256: string | null;
        health: string;
      }[];
    }
  ).agents;
}

const sha = async (bytes: Uint8Array) => (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
const modelA = mlpModel({ width: 8, layers: 2, batch: 'batch', seed: 1 });
const modelB = mlpModel({ width: 8, layers: 2, batch: 'batch', seed: 2 });
const modelC = mlpModel({ width: 8, layers: 3, batch: 'batch', seed: 3 });

beforeAll(async () => {
  host = await startServe(['--workspace', workspace, '--heartbeat-ms', '500']);
  for (const n of ['a1', 'a2', 'a3']) startAgent(n);
  for (const n of ['a1', 'a2', 'a3']) await host.waitFor(new RegExp(`agent ${n} .* connected`));
});
afterAll(() => killAll());

describe('s4op deploy', () => {
  it('rolls a model out in three waves: every agent measured in the field, gated, activated and serving it', async () => {
    const r = await deploy([
      '--model',
      modelFile('a.onnx', modelA),
      '--to',
      'tag:lab',
      '--canary',
      '0',
      '--waves',
      '3',
      '--gate',
      'p99<=5000ms,rss<=4000MB',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const d = r.record!;
    expect(d.status).toBe('succeeded');
    expect(d.plan.map((s) => [s.name, s.agents.length])).toEqual([
      ['wave 1', 1],
      ['wave 2', 1],
      ['wave 3', 1],
    ]);
    expect(d.agents.map((a) => a.state)).toEqual(['active', 'active', 'active']);
    for (const a of d.agents) expect(a.field!.p99_ms as number).toBeGreaterThan(0);
    // Every agent lacked the model: each got its bytes once.
    expect(d.agents.map((a) => a.field!.pushed_bytes)).toEqual([modelA.length, modelA.length, modelA.length]);
    // One wave after the other: each field measurement started after the one of the wave before.
    const started = [...d.agents]
      .sort((x, y) => x.stage - y.stage)
      .map((a) => Date.parse(a.field!.started_at as unknown as string));
    expect(started[0]).toBeLessThan(started[1]!);
    expect(started[1]).toBeLessThan(started[2]!);
    const want = await sha(modelA);
    for (const a of await fleet())
      expect([a.name, a.active_sha256, a.desired_sha256, a.health]).toEqual([a.name, want, want, 'in_sync']);
    for (const p of agents.values()) expect(await servedModel(p)).toBe(want);
    const hist = await runCli(HOST_CLI, ['deployments', '--workspace', workspace, '--json']);
    expect(JSON.parse(hist.stdout).deployments[0]).toMatchObject({
      id: d.id,
      status: 'succeeded',
      model_sha256: want,
      gate: 'p99<=5000ms, rss<=4000MB',
      lab: null,
      selector: 'tag:lab',
    });
  });

  it('a canary that fails its gate stops the rollout: nothing else is touched, every agent keeps its model, the reason is recorded', async () => {
    const r = await deploy([
      '--model',
      modelFile('b.onnx', modelB),
      '--to',
      'tag:lab',
      '--canary',
      '1',
      '--waves',
      '2',
      '--gate',
      'p50<=0.0001us',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/deployment dep-\S+ failed: canary: gate failed on a\d: p50 \S+ ms fails <= 0\.0000 ms/);
    const d = r.record!;
    expect(d.status).toBe('failed');
    expect(d.agents.map((a) => a.state).sort()).toEqual(['rolled_back', 'skipped', 'skipped']);
    const canary = d.agents.find((a) => a.state === 'rolled_back')!;
    expect(canary.reason).toMatch(/gate failed/);
    expect(canary.field!.p50_ms as number).toBeGreaterThan(0);
    const want = await sha(modelA);
    for (const a of await fleet()) expect(a.active_sha256).toBe(want);
    for (const p of agents.values()) expect(await servedModel(p)).toBe(want);
  });

  it("a model that fails on the board (its runs fail) is rolled back with the runtime's reason", async () => {
    const r = await deploy(['--model', modelFile('bad.onnx', badShapeModel()), '--to', 'agent:a2', '--canary', '1']);
    expect(r.code).toBe(2);
    expect(r.record!.agents[0]).toMatchObject({ agent_name: 'a2', state: 'rolled_back' });
    expect(r.record!.agents[0]!.reason).toMatch(/install failed on a2: run_failed/);
    expect(await servedModel(agents.get('a2')!)).toBe(await sha(modelA));
  });

  it('an agent killed mid-rollout is left offline, then converges when it comes back; the active model survives a restart', async () => {
    const slow = JSON.stringify({ warmup_ms: 0, warmup_runs: 2, min_duration_ms: 3000, min_samples: 10 });
    const file = modelFile('c.onnx', modelC);
    const run = runCli(
      HOST_CLI,
      [
        'deploy',
        ...serverArgs(),
        '--model',
        file,
        '--to',
        'tag:lab',
        '--canary',
        '0',
        '--waves',
        '1',
        '--settings',
        slow,
        '--json',
      ],
      { timeoutMs: 90_000 },
    );
    const a3 = agents.get('a3')!;
    await a3.waitFor(/job d-dep-\S+: measuring c\.onnx/, 30_000);
    a3.child.kill('SIGKILL');
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as {
      id: string;
      status: string;
      reason: string;
      agents: { agent_name: string; state: string }[];
    };
    expect(d.status).toBe('succeeded');
    expect(d.reason).toMatch(/a3 offline/);
    expect(Object.fromEntries(d.agents.map((a) => [a.agent_name, a.state]))).toEqual({
      a1: 'active',
      a2: 'active',
      a3: 'offline',
    });
    const want = await sha(modelC);
    const before = (await fleet()).find((a) => a.name === 'a3')!;
    expect(before).toMatchObject({ online: false, active_sha256: await sha(modelA) });

    const back = startAgent('a3');
    await host.waitFor(/deployment dep-\S+: a3 is back; converging/, 30_000);
    const deadline = Date.now() + 60_000;
    let row: { state: string } | undefined;
    while (Date.now() < deadline) {
      const h = await runCli(HOST_CLI, ['deployments', d.id, '--server', host.url, '--token', host.token, '--json']);
      row = (JSON.parse(h.stdout) as { agents: { agent_name: string; state: string }[] }).agents.find(
        (a) => a.agent_name === 'a3',
      );
      if (row?.state === 'active') break;
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(row?.state).toBe('active');
    // The restarted agent still had the bytes it received before it was killed: none were sent again.
    const conv = await runCli(HOST_CLI, ['deployments', d.id, '--workspace', workspace, '--json']);
    expect(
      (JSON.parse(conv.stdout) as { agents: { agent_name: string; field: { pushed_bytes: number } }[] }).agents.find(
        (a) => a.agent_name === 'a3',
      )!.field.pushed_bytes,
    ).toBe(0);
    expect((await fleet()).find((a) => a.name === 'a3')).toMatchObject({
      online: true,
      active_sha256: want,
      previous_sha256: await sha(modelA),
      health: 'in_sync',
    });
    expect(await servedModel(back)).toBe(want);

    // Restarted without any deployment in flight: it serves the same model at once.
    await agents.get('a1')!.stop();
    const again = startAgent('a1');
    await again.waitFor(/serving active model/);
    expect(await servedModel(again)).toBe(want);

    // An agent whose state was lost reports no model in its hello: the host brings it back to the desired one.
    await agents.get('a2')!.stop();
    rmSync(path.join(dir, 'cache-a2', 'active-model.json'));
    const wiped = startAgent('a2');
    await host.waitFor(/a2 is back; converging/, 30_000);
    await wiped.waitFor(/active model is now/, 30_000);
    expect(await servedModel(wiped)).toBe(want);
    expect((await fleet()).find((a) => a.name === 'a2')).toMatchObject({ active_sha256: want, health: 'in_sync' });
  });

  it('rolls a deployment back on request; an agent away at that moment rolls back when it reconnects', async () => {
    const modelD = mlpModel({ width: 8, layers: 2, batch: 'batch', seed: 4 });
    const r = await deploy(['--model', modelFile('d.onnx', modelD), '--to', 'tag:lab', '--canary', '0']);
    expect(r.record!.status).toBe('succeeded');
    const c = await sha(modelC);
    await agents.get('a3')!.stop();
    const rb = await runCli(HOST_CLI, [
      'deployments',
      r.record!.id,
      '--rollback',
      '--server',
      host.url,
      '--token',
      host.token,
      '--json',
    ]);
    expect(rb.code, rb.stderr).toBe(0);
    const d = JSON.parse(rb.stdout) as {
      status: string;
      reason: string;
      agents: { agent_name: string; state: string; reason: string }[];
    };
    expect(d.status).toBe('rolled_back');
    expect(d.reason).toMatch(/2 agents restored; not restored: a3 is away/);
    expect(Object.fromEntries(d.agents.map((a) => [a.agent_name, a.state]))).toEqual({
      a1: 'rolled_back',
      a2: 'rolled_back',
      a3: 'active',
    });
    for (const n of ['a1', 'a2']) expect(await servedModel(agents.get(n)!)).toBe(c);
    const back = startAgent('a3');
    await back.waitFor(/rolled back deployment dep-/, 30_000);
    expect(await servedModel(back)).toBe(c);
    expect((await fleet()).map((a) => [a.name, a.active_sha256, a.desired_sha256])).toEqual([
      ['a1', c, c],
      ['a2', c, c],
      ['a3', c, c],
    ]);
  });

  it('bad input gets a clear message: empty selector, unknown model, a gate that does not parse, a file that is not ONNX', async () => {
    const a = modelFile('a.onnx', modelA);
    const none = await deploy(['--model', a, '--to', 'tag:nope']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/tag:nope matches no known agent \(known: a1\[lab\]/);
    const unknown = await deploy(['--model', '99999', '--to', 'tag:lab']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--model 99999: no (candidate 99999|run store)/);
    const gate = await deploy(['--model', a, '--to', 'tag:lab', '--gate', 'p99<=12ms,p99 is fast']);
    expect(gate.code).toBe(2);
    expect(gate.stderr).toMatch(/gate term "p99 is fast" does not parse/);
    const lab = await deploy(['--model', a, '--to', 'tag:lab', '--gate', 'p90<=1.5x']);
    expect(lab.code).toBe(2);
    expect(lab.stderr).toMatch(/compares with the lab measurement, but there is none/);
    const junk = await deploy([
      '--model',
      modelFile('junk.onnx', new TextEncoder().encode('not a model at all')),
      '--to',
      'tag:lab',
    ]);
    expect(junk.code).toBe(2);
    expect(junk.stderr).toMatch(/junk\.onnx is not an ONNX model/);

    // The API itself: token, and fields checked by name.
    const api = (body: unknown, token = host.token) =>
      fetch(`${host.url.replace(/^ws/, 'http')}/v1/deployments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await api({}, 'wrong')).status).toBe(401);
    const base = { model: { base64: Buffer.from(modelA).toString('base64') }, to: 'tag:lab' };
    const badLab = await api({ ...base, lab: { agent: 'x', p50_ms: 'fast' } });
    expect(badLab.status).toBe(400);
    expect(((await badLab.json()) as { error: { message: string } }).error.message).toMatch(
      /field "lab\.p50_ms" must be a finite number/,
    );
    const badWaves = await api({ ...base, waves: 0 });
    expect(((await badWaves.json()) as { error: { message: string } }).error.message).toMatch(
      /--waves must be an integer in 1–100/,
    );
  });
});
