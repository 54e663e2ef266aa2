/**
 * Issue 19, scale: 200 simulated agents (scripts/bench/sim-agent.ts: the real agent's link code, the real
 * protocol and chunk framing, synthetic measurements) on one fleet server with a run store. They connect,
 * a deployment rolls out canary 1 % then 3 waves while 10 % of them drop mid-rollout, and every agent ends
 * on the new model, the dropped ones once they are back. A second deployment whose gate fails at the
 * canary stops for all: nobody else installs it. The 1,000-agent figures come from scripts/bench/fleet-scale.ts.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../../host/dist/fleet/index.js';
import { RunStore } from '../../host/dist/store/run-store.js';
import { sha256Hex } from '../../shared/dist/index.js';
import { startSimAgents, type SimAgent } from '../../scripts/bench/sim-agent.js';
import { tmpDir } from '../helpers/fleet.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';

const N = 200;
const TOKEN = 'scale-token';
const dir = tmpDir('s4op-scale-');
let fleet: Fleet;
let store: RunStore;
let agents: SimAgent[] = [];

afterAll(async () => {
  for (const a of agents) a.stop();
  await fleet?.stop();
  store?.close();
});

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe(`a fleet of ${N} simulated agents`, () => {
  it('connects, deploys canary 1 % then 3 waves with 10 % dropping mid-rollout, and converges; a failing canary gate stops it for all', async () => {
    store = RunStore.openWorkspace(path.join(dir, 'ws'));
    fleet = await startFleet({
      port: 0,
      token: TOKEN,
      heartbeatMs: 1000,
      log: () => undefined,
      workspace: { store, dir: path.join(dir, 'ws') },
    });
    const t0 = Date.now();
    agents = startSimAgents({
      url: fleet.server.url,
      token: TOKEN,
      count: N,
      prefix: 'sim',
      spreadMs: 500,
      backoff: { initialMs: 200, maxMs: 2000 },
      measureMs: 10,
    });
    await until(() => fleet.server.size === N, 20_000, `${N} agents connected`);
    const connectMs = Date.now() - t0;
    expect(agents.every((a) => a.ready && !a.fatal)).toBe(true);

    const bytes = mlpModel({ width: 8, layers: 1, seed: 19 });
    const sha = sha256Hex(bytes);
    const deploy = fleet.deploy!;
    const d = await deploy.create({
      model: { bytes, name: 'scale.onnx' },
      to: 'tag:sim',
      canary: '1%',
      waves: 3,
      gate: 'p50 < 5ms',
    });
    expect(d.plan.map((s) => s.agents.length)).toEqual([2, 66, 66, 66]);
    // 10 % drop as soon as the canary is through: some are mid-install, some have not had their turn
    await until(() => deploy.deployments.get(d.id)!.current_stage >= 1, 20_000, 'canary passed');
    const canary = new Set(d.plan[0]!.agents);
    const dropped = agents
      .filter((a) => !canary.has(a.id))
      .filter((_, i) => i % 9 === 3)
      .slice(0, N / 10);
    expect(dropped).toHaveLength(N / 10);
    for (const a of dropped) a.stop();
    await until(() => deploy.deployments.get(d.id)!.status !== 'running', 60_000, 'rollout finished');
    const after = deploy.deployments.get(d.id)!;
    expect(after.status).toBe('succeeded');
    const offline = deploy.deployments.agents(d.id).filter((r) => r.state === 'offline');
    expect(offline.length).toBeGreaterThan(0);
    // they come back (their link reconnects with backoff and jitter) and converge
    for (const a of dropped) a.start();
    await until(() => agents.every((a) => a.state.active?.sha256 === sha), 60_000, 'every agent serving the model');
    await until(() => deploy.deployments.agents(d.id).every((r) => r.state === 'active'), 30_000, 'every row active');
    expect(deploy.deployments.get(d.id)!.reason ?? '').not.toMatch(/offline/);

    // a gate that fails at the canary: the rollout stops for all, nobody else installs the model
    const bytes2 = mlpModel({ width: 8, layers: 1, seed: 20 });
    const sha2 = sha256Hex(bytes2);
    const d2 = await deploy.create({
      model: { bytes: bytes2, name: 'slow.onnx' },
      to: 'tag:sim',
      canary: '1%',
      waves: 3,
      gate: 'p50 < 0.1ms',
    });
    await until(() => deploy.deployments.get(d2.id)!.status !== 'running', 30_000, 'gated rollout finished');
    const rows = deploy.deployments.agents(d2.id);
    expect(deploy.deployments.get(d2.id)).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/^canary: gate failed/),
    });
    expect(rows.filter((r) => r.stage === 0).every((r) => r.state === 'rolled_back')).toBe(true);
    expect(rows.filter((r) => r.stage > 0).every((r) => r.state === 'skipped')).toBe(true);
    expect(agents.filter((a) => a.state.active?.sha256 === sha2)).toHaveLength(0);
    expect(agents.every((a) => a.state.active?.sha256 === sha && !a.fatal)).toBe(true);
    console.log(`fleet-scale test: ${N} agents connected in ${connectMs} ms`);
  }, 180_000);
});
