/**
 * The staged rollout on plain data: a real run store (SQLite file) records it, and scripted agents answer
 * install (a field measurement or a failure), activate and rollback, logging every call in order.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Measurement } from '@s4op/shared';
import { parseGate } from '../../host/src/fleet/deploy/gate.js';
import { parseCanary, planStages, type PlannableAgent } from '../../host/src/fleet/deploy/plan.js';
import { convergeAgent, runRollout, type AgentOps, type InstallOutcome } from '../../host/src/fleet/deploy/rollout.js';
import { DeploymentStore } from '../../host/src/fleet/deploy/store.js';
import { StoreAgentRegistry } from '../../host/src/fleet/link/registry-store.js';
import { RunStore } from '../../host/src/store/run-store.js';

function measurement(p50: number, rss = 100): Measurement {
  const stats = {
    n: 10,
    min: p50,
    max: p50 * 2,
    median: p50,
    mean: p50 * 1.1,
    p90: p50 * 1.5,
    p99: p50 * 1.9,
    std: 0.1,
    cv: 0.01,
    median_ci: { low: p50, high: p50, confidence: 0.95 },
  };
  const snap = { temperature_c: null, cpu_mhz: null, throttle: null };
  return {
    runtime: { name: 'onnxruntime-node', version: '1.30.0', settings: {} },
    settings: {
      runtime: 'auto',
      threads: 1,
      graph_optimization: 'all',
      arena: true,
      warmup_ms: 0,
      warmup_runs: 1,
      min_duration_ms: 0,
      min_samples: 1,
      max_samples: 10,
      dims: {},
      default_dim: 1,
      shapes: {},
      confidence: 0.95,
      timeout_ms: 1000,
    },
    mode: 'single',
    models: [{ sha256: 'a'.repeat(64), size_bytes: 1, inputs: [], load_ms: 1, first_run_ms: 1, latency_ms: stats }],
    ratio: null,
    warmup: { runs: 1, ms: 1 },
    memory_mb: {
      baseline_rss: 50,
      after_load_rss: 60,
      after_first_run_rss: 70,
      peak_rss: rss,
      load_added: 10,
      first_run_added: 10,
    },
    thermal: { before: snap, after: snap, throttled: false },
    started_at: new Date().toISOString(),
    duration_ms: 5,
  };
}

interface Script {
  offline?: Set<string>;
  install?: Record<string, InstallOutcome>;
  activateFails?: Set<string>;
}

function scripted(s: Script): AgentOps & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    online: (id) => !s.offline?.has(id),
    install: async (_d, id) => {
      calls.push(`install ${id}`);
      return s.install?.[id] ?? { kind: 'measured', measurement: measurement(1) };
    },
    activate: async (_d, id) => {
      calls.push(`activate ${id}`);
      return s.activateFails?.has(id)
        ? { kind: 'failed', reason: 'load_failed: cannot load' }
        : { kind: 'active', previous_sha256: 'b'.repeat(64) };
    },
    rollback: async (_d, id) => {
      calls.push(`rollback ${id}`);
      return { ok: true };
    },
    activated: (_d, id) => calls.push(`desired ${id}`),
  };
}

let dir: string;
let store: RunStore;
let ds: DeploymentStore;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 's4op-rollout-'));
  store = RunStore.open(path.join(dir, 'runs.sqlite'));
  ds = new DeploymentStore(store);
});
afterEach(() => store.close());

const agents: PlannableAgent[] = ['a', 'b', 'c', 'd', 'e'].map((n) => ({ id: n, name: n, tags: ['t'], online: true }));

function create(canary: string, waves: number, gate = '', id = 'dep-1') {
  const plan = planStages(agents, parseCanary(canary), waves);
  const stageOf = new Map(plan.flatMap((s, i) => s.agents.map((a) => [a, i] as const)));
  return ds.create({
    id,
    model_sha256: 'c'.repeat(64),
    model_name: 'm.onnx',
    model_bytes: 10,
    source: { kind: 'file', path: '/m.onnx' },
    selector: 'tag:t',
    canary,
    waves,
    gate,
    settings: {},
    lab: {
      agent: 'lab',
      runtime: 'onnxruntime-node',
      runtime_version: '1.30.0',
      threads: 1,
      settings: { threads: 1 },
      export_mode: 'conv',
      export_variant: 'chunked',
      p50_ms: 1,
      p90_ms: 1.5,
      p99_ms: 2,
      mean_ms: 1.1,
      rss_mb: 100,
      measured_at: null,
    },
    plan,
    agents: agents.map((a) => ({ id: a.id, name: a.name, stage: stageOf.get(a.id)! })),
  });
}

const states = (id = 'dep-1') => Object.fromEntries(ds.agents(id).map((r) => [r.agent_name, r.state]));

describe('staged rollout', () => {
  it('canary, then waves, each stage installed and gated as a whole before it is activated', async () => {
    const ops = scripted({});
    const d = await runRollout(ds, ops, create('1', 2).id, parseGate('p50<=1.5x'));
    expect(d).toMatchObject({ status: 'succeeded', reason: null, current_stage: 2 });
    expect(ops.calls).toEqual([
      'install a',
      'activate a',
      'desired a',
      // within a stage, agents install and activate concurrently
      'install b',
      'install c',
      'activate b',
      'activate c',
      'desired b',
      'desired c',
      'install d',
      'install e',
      'activate d',
      'activate e',
      'desired d',
      'desired e',
    ]);
    expect(Object.values(states())).toEqual(['active', 'active', 'active', 'active', 'active']);
    const row = ds.agent('dep-1', 'a')!;
    expect(row.previous_sha256).toBe('b'.repeat(64));
    expect(row.gate_result).toMatchObject({ pass: true, vs_lab: { p50: 1 } });
    expect(row.field).toMatchObject({ p50_ms: 1, runtime: 'onnxruntime-node 1.30.0' });
  });

  it('a canary that fails the gate is rolled back; nothing is activated and later stages are skipped', async () => {
    const ops = scripted({ install: { a: { kind: 'measured', measurement: measurement(9) } } });
    const d = await runRollout(ds, ops, create('1', 2).id, parseGate('p50<=2ms'));
    expect(d.status).toBe('failed');
    expect(d.reason).toMatch(/^canary: gate failed on a: p50 9\.0000 ms fails <= 2\.0000 ms/);
    expect(ops.calls).toEqual(['install a']);
    expect(states()).toEqual({ a: 'rolled_back', b: 'skipped', c: 'skipped', d: 'skipped', e: 'skipped' });
  });

  it('a failed install in a wave holds the agents of that wave that passed; earlier waves stay active', async () => {
    const ops = scripted({ install: { c: { kind: 'failed', reason: 'bad_model: cannot parse' } } });
    const d = await runRollout(ds, ops, create('0', 3).id, []);
    expect(d.reason).toMatch(/wave 2: install failed on c: bad_model: cannot parse/);
    expect(states()).toEqual({ a: 'active', b: 'active', c: 'rolled_back', d: 'held', e: 'skipped' });
    expect(ops.calls).not.toContain('activate d');
  });

  it('a failed activation rolls the rest of its stage back', async () => {
    const ops = scripted({ activateFails: new Set(['c']) });
    const d = await runRollout(ds, ops, create('1', 1).id, []);
    expect(d.status).toBe('failed');
    expect(d.reason).toMatch(/wave 1: activation failed on c: load_failed/);
    expect(ops.calls.filter((c) => c.startsWith('rollback'))).toEqual(['rollback b', 'rollback d', 'rollback e']);
    expect(states()).toEqual({ a: 'active', b: 'rolled_back', c: 'rolled_back', d: 'rolled_back', e: 'rolled_back' });
  });

  it('an agent away during its stage is marked offline and converges on its own later; a failed convergence keeps its model', async () => {
    const script: Script = { offline: new Set(['d']) };
    const ops = scripted(script);
    const d = await runRollout(ds, ops, create('1', 1).id, parseGate('rss<=200MB'));
    expect(d).toMatchObject({ status: 'succeeded', reason: 'd offline: it converges on reconnect' });
    expect(states().d).toBe('offline');
    script.offline!.clear();
    const row = await convergeAgent(ds, ops, 'dep-1', 'd', parseGate('rss<=200MB'));
    expect(row!.state).toBe('active');
    expect(ds.get('dep-1')!.reason).toBeNull();
    expect(ops.calls.slice(-3)).toEqual(['install d', 'activate d', 'desired d']);

    // The same on a deployment whose gate the returning agent misses.
    script.offline!.add('e');
    script.install = { e: { kind: 'measured', measurement: measurement(1, 999) } };
    await runRollout(ds, ops, create('0', 1, '', 'dep-2').id, parseGate('rss<=200MB'));
    script.offline!.clear();
    const e = await convergeAgent(ds, ops, 'dep-2', 'e', parseGate('rss<=200MB'));
    expect(e).toMatchObject({
      state: 'rolled_back',
      reason: expect.stringMatching(/gate failed on e: rss 999\.0000 MB fails <= 200\.0000 MB/),
    });
    expect(ds.get('dep-2')!.reason).toMatch(/e failed to converge/);
  });

  it('resumes a deployment from its recorded stage (a restarted server): finished stages are not redone', async () => {
    const d = create('1', 2);
    ds.updateAgent(d.id, 'a', { state: 'active' });
    ds.setStage(d.id, 1);
    ds.updateAgent(d.id, 'b', { state: 'installing' });
    const ops = scripted({});
    expect((await runRollout(ds, ops, d.id, [])).status).toBe('succeeded');
    expect(ops.calls.filter((c) => c.startsWith('install'))).toEqual([
      'install b',
      'install c',
      'install d',
      'install e',
    ]);
  });
});

describe('agent registry in the run store', () => {
  it('keeps agents with tags, device, actual and desired model; a new server marks them offline', () => {
    const reg = new StoreAgentRegistry(store);
    const device = {
      hostname: 'h',
      cpu_model: 'cpu',
      cores: 4,
      cpu_max_mhz: null,
      cpu_current_mhz: null,
      memory_total_mb: 4000,
      os: 'linux',
      arch: 'arm64',
      temperature_c: null,
      board_model: 'Raspberry Pi 4',
    };
    reg.upsert({
      id: 'x',
      name: 'pi',
      tags: ['pi4'],
      agent_version: '0.1.0',
      runtimes: [],
      device,
      address: '127.0.0.1:1',
      online: true,
      connected_at: 't0',
      last_seen: 't0',
    });
    reg.setActual('x', {
      active: { sha256: 'a'.repeat(64), deployment_id: 'dep-1', activated_at: 't1' },
      previous: null,
    });
    reg.setDesired('x', 'a'.repeat(64), 'dep-1');
    expect(reg.get('x')).toMatchObject({
      name: 'pi',
      tags: ['pi4'],
      online: true,
      device,
      active_sha256: 'a'.repeat(64),
      active_deployment: 'dep-1',
      desired_sha256: 'a'.repeat(64),
    });
    expect(new StoreAgentRegistry(store, { readOnly: true }).get('x')!.online).toBe(true);
    expect(new StoreAgentRegistry(store).list().map((a) => a.online)).toEqual([false]);
  });
});
