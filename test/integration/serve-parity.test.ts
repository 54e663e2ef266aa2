/**
 * The agent's local inference API serving a deployed S4D candidate: conv-mode outputs equal the host
 * model's forward (JSON and raw bytes), a step-mode session fed one time step per call ends on the conv
 * output, inputs are checked with clear errors, and a rollback restores the previous model.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { exportModel } from '../../host/src/export/export.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { RunStore } from '../../host/src/store/run-store.js';
import { tmpDir } from '../helpers/fleet.js';
import { AGENT_CLI, HOST_CLI, killAll, runCli, startCli, startServe, type LiveProcess } from '../helpers/processes.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { relErr } from '../helpers/numeric.js';

const dir = tmpDir('s4op-serve-');
const L = 32;
const B = 2;
const cfg = tinyConfig({ dModel: 8, dState: 6 });
const x = Float32Array.from({ length: B * L * cfg.inputSize }, (_, i) => Math.sin(0.21 * i) + 0.4 * Math.cos(1.3 * i));
let ref: Float32Array;
let convFile: string;
let stepFile: string;
let host: Awaited<ReturnType<typeof startServe>>;
let agent: LiveProcess;
let api: string;
const FIELD = JSON.stringify({ warmup_ms: 0, warmup_runs: 2, min_duration_ms: 50, min_samples: 10 });

async function post(route: string, body: unknown) {
  const res = await fetch(`${api}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } },
  };
}

async function deploy(model: string, extra: string[] = []): Promise<string> {
  const r = await runCli(
    HOST_CLI,
    [
      'deploy',
      '--server',
      host.url,
      '--token',
      host.token,
      '--workspace',
      path.join(dir, 'ws'),
      '--model',
      model,
      '--to',
      'agent:board',
      '--canary',
      '1',
      '--settings',
      FIELD,
      '--json',
      ...extra,
    ],
    { timeoutMs: 60_000 },
  );
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

/** A pruning run's candidate in the workspace, as `s4op prune` records it: its ONNX artifact and its lab measurement. */
function recordCandidate(file: string): number {
  const store = RunStore.openWorkspace(path.join(dir, 'ws'));
  try {
    const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    store.createRun({ id: 'run-lab', strategy: 's4op', base_checkpoint: 'ck', dataset: {}, config: {} });
    const c = store.startCandidate({ run_id: 'run-lab', step: 1, rate: 0.5, seed: 0 });
    const m = store.addMeasurement({
      model_sha256: sha256,
      agent: 'tag:pi4',
      kind: 'measured',
      settings: { runtime: 'auto', threads: 1 },
      runtime: 'onnxruntime-node 1.30.0',
      p50_ms: 0.5,
      p90_ms: 0.6,
      rss_mb: 90,
      statistics: { p99: 0.8, mean: 0.55 },
      raw: { measured_by: 'lab-pi', measurement: null },
    });
    store.finishCandidate(
      c.id,
      {
        active_operators: [
          [0, 2, 5, 7],
          [1, 3, 4],
        ],
        bypassed: [4, 5],
        operators_active: 7,
        operators_total: 16,
        params: 100,
        checkpoint: 'ck',
        weights_sha256: 'w',
        model_sha256: sha256,
        val_metric: 0.5,
        val_loss: 1,
        test_metric: 0.5,
        test_loss: 1,
        finetune_epochs: 1,
        finetune_steps: 1,
        finetune_seconds: 1,
        measurement_id: m.id,
      },
      [{ kind: 'onnx', path: file, sha256, bytes: readFileSync(file).length }],
    );
    return c.id;
  } finally {
    store.close();
  }
}

beforeAll(async () => {
  await initBackend('cpu');
  const model = new SequenceModel(cfg, 11);
  model.setActive(0, [0, 2, 5, 7]);
  model.setActive(1, [1, 3, 4]);
  ref = tf.tidy(
    () => model.forward(tf.tensor3d(x, [B, L, cfg.inputSize]), { training: false }).dataSync() as Float32Array,
  );
  convFile = path.join(dir, 'conv.onnx');
  stepFile = path.join(dir, 'step.onnx');
  writeFileSync(convFile, exportModel(model, { mode: 'conv', variant: 'chunked', length: L }).bytes);
  writeFileSync(stepFile, exportModel(model, { mode: 'step' }).bytes);
  model.dispose();
  host = await startServe(['--workspace', path.join(dir, 'ws')]);
  agent = startCli(
    AGENT_CLI,
    [
      '--host',
      host.url,
      '--name',
      'board',
      '--cache-dir',
      path.join(dir, 'cache'),
      '--serve-port',
      '0',
      '--disable-runtime',
      'onnxruntime-web',
    ],
    { env: { S4OP_TOKEN: host.token } },
  );
  api = (await agent.waitFor(/inference API listening on /)).replace(/.*listening on /, '').trim();
  await host.waitFor(/agent board .* connected/);
});
afterAll(() => killAll());

describe('local inference API', () => {
  it('answers 503 with a clear message before anything is deployed', async () => {
    const r = await post('/v1/infer', { inputs: {} });
    expect(r.status).toBe(503);
    expect(r.body.error!.code).toBe('no_active_model');
  });

  it("conv mode: the deployed candidate gives the host model's outputs, as JSON and as raw bytes; provenance names its lab measurement", async () => {
    const candidate = recordCandidate(convFile);
    const id = await deploy(String(candidate), ['--gate', 'p50<=1000x,rss<=20x']);
    const hist = await runCli(HOST_CLI, ['deployments', id, '--workspace', path.join(dir, 'ws'), '--json']);
    const d = JSON.parse(hist.stdout) as {
      source: unknown;
      lab: unknown;
      gate: string;
      agents: { gate_result: { vs_lab: Record<string, number>; checks: { limit: number }[] } }[];
    };
    expect(d.source).toMatchObject({ kind: 'candidate', candidate_id: candidate, run_id: 'run-lab' });
    expect(d.lab).toMatchObject({
      agent: 'lab-pi',
      runtime: 'onnxruntime-node',
      runtime_version: '1.30.0',
      threads: 1,
      export_mode: 'conv',
      export_variant: 'chunked',
      p50_ms: 0.5,
      p99_ms: 0.8,
      rss_mb: 90,
    });
    expect(d.gate).toBe('p50<=1000x, rss<=20x');
    expect(d.agents[0]!.gate_result.checks.map((c) => c.limit)).toEqual([500, 1800]);
    expect(d.agents[0]!.gate_result.vs_lab.p50).toBeGreaterThan(0);
    const r = await post('/v1/infer', { inputs: { x: { dims: [B, L, cfg.inputSize], data: Array.from(x) } } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const logits = (r.body.outputs as Record<string, { dims: number[]; data: number[] }>).logits!;
    expect(logits.dims).toEqual([B, cfg.numClasses]);
    expect(relErr(logits.data, ref)).toBeLessThan(1e-4);

    const raw = await fetch(`${api}/v1/infer?shape=${B},${L},${cfg.inputSize}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from(x.buffer),
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('x-s4op-shape')).toBe(`${B},${cfg.numClasses}`);
    const bytes = new Float32Array(await raw.arrayBuffer());
    expect(Array.from(bytes)).toEqual(logits.data);
  });

  it('checks inputs: unknown or missing names, a wrong length or rank, a fixed dimension, non-numbers, a byte count', async () => {
    const cases: [unknown, RegExp][] = [
      [{ inputs: { y: { dims: [1], data: [0] } } }, /the model has no input "y" \(inputs: x\)/],
      [{ inputs: {} }, /missing input "x"/],
      [
        { inputs: { x: { dims: [B, L, cfg.inputSize], data: [1, 2, 3] } } },
        /data has 3 values, dims \[2, 32, 2\] need 128/,
      ],
      [{ inputs: { x: { dims: [B, L], data: [] } } }, /rank 2, the model declares rank 3/],
      [
        { inputs: { x: { dims: [1, L + 1, cfg.inputSize], data: new Array(66).fill(0) } } },
        /dimension 1 is fixed at 32/,
      ],
      [
        { inputs: { x: { dims: [1, L, cfg.inputSize], data: ['a', ...new Array(63).fill(0)] } } },
        /data\[0\] is "a", not a number/,
      ],
    ];
    for (const [body, msg] of cases) {
      const r = await post('/v1/infer', body);
      expect(r.status).toBe(400);
      expect(r.body.error!.message).toMatch(msg);
    }
    const raw = await fetch(`${api}/v1/infer?shape=1,${L},${cfg.inputSize}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(10),
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { error: { message: string } }).error.message).toMatch(
      /10 bytes sent, float32 \[1, 32, 2\] needs 256/,
    );
  });

  it('step mode: a session fed one step per call keeps the state and ends on the conv output; rollback restores conv', async () => {
    const stepDeployment = await deploy(stepFile);
    const model = (await (await fetch(`${api}/v1/model`)).json()) as { mode: string; previous: { sha256: string } };
    expect(model.mode).toBe('step');
    const plain = await post('/v1/infer', { inputs: { x: { dims: [B, cfg.inputSize], data: [0, 0, 0, 0] } } });
    expect(plain.status).toBe(400);
    expect(plain.body.error!.message).toMatch(/open a session/);

    const open = await post('/v1/sessions', { batch: B });
    expect(open.status).toBe(201);
    const id = open.body.id as string;
    let last: number[] = [];
    for (let t = 0; t < L; t++) {
      const xt: number[] = [];
      for (let b = 0; b < B; b++) for (let d = 0; d < cfg.inputSize; d++) xt.push(x[(b * L + t) * cfg.inputSize + d]!);
      const r = await post(`/v1/sessions/${id}/step`, { inputs: { x: { dims: [B, cfg.inputSize], data: xt } } });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.step).toBe(t + 1);
      const out = r.body.outputs as Record<string, { data: number[] }>;
      expect(Object.keys(out)).toEqual(['logits']);
      last = out.logits!.data;
    }
    expect(relErr(last, ref)).toBeLessThan(1e-4);
    const wrongBatch = await post(`/v1/sessions/${id}/step`, {
      inputs: { x: { dims: [1, cfg.inputSize], data: [0, 0] } },
    });
    expect(wrongBatch.body.error!.message).toMatch(/batch 1 differs from the session's batch 2/);
    expect((await post(`/v1/sessions/${id}/reset`, {})).body.step).toBe(0);
    expect((await post('/v1/sessions/nope/step', { inputs: {} })).status).toBe(404);

    const rb = await runCli(HOST_CLI, [
      'deployments',
      stepDeployment,
      '--rollback',
      '--server',
      host.url,
      '--token',
      host.token,
      '--json',
    ]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(JSON.parse(rb.stdout)).toMatchObject({
      status: 'rolled_back',
      agents: [{ agent_name: 'board', state: 'rolled_back' }],
    });
    const after = (await (await fetch(`${api}/v1/model`)).json()) as { sha256: string; mode: string };
    expect(after).toMatchObject({ sha256: model.previous.sha256, mode: 'conv' });
    const stale = await post(`/v1/sessions/${id}/step`, {
      inputs: { x: { dims: [B, cfg.inputSize], data: [0, 0, 0, 0] } },
    });
    expect(stale.status).toBe(409);
    const r = await post('/v1/infer', { inputs: { x: { dims: [B, L, cfg.inputSize], data: Array.from(x) } } });
    expect(relErr((r.body.outputs as Record<string, { data: number[] }>).logits!.data, ref)).toBeLessThan(1e-4);
  });
});
