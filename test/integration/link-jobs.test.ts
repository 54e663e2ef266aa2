/**
 * Jobs over the real link: an in-process fleet server (host/dist) and a real agent process. Models are
 * pushed once per hash, one measurement runs at a time, ids are idempotent, cancel and timeout give
 * clear errors, bad models fail alone, and a result survives the host going away.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobFailed, startFleet, type Fleet } from '../../host/dist/fleet/index.js';
import type { AgentMessage } from '../../shared/dist/index.js';
import { AGENT_CLI, killAll, startCli, type LiveProcess } from '../helpers/processes.js';
import { tmpDir } from '../helpers/fleet.js';
import { mlpModel, stringInputModel } from '../../host/src/testing/onnx-models.js';

const TOKEN = 'jobs-token';
const FAST = { warmup_ms: 10, warmup_runs: 2, min_duration_ms: 80, min_samples: 16 };
const cacheDir = tmpDir('s4op-jobs-agent-');
let fleet: Fleet;
let agent: LiveProcess;
let port: number;
const seen: AgentMessage[] = [];
const logs: string[] = [];

async function startHost(p = 0): Promise<Fleet> {
  const f = await startFleet({ port: p, token: TOKEN, heartbeatMs: 500, log: (l) => logs.push(l) });
  f.server.on('message', (_a, m) => seen.push(m));
  return f;
}

beforeAll(async () => {
  fleet = await startHost();
  port = fleet.server.port;
  agent = startCli(
    AGENT_CLI,
    ['--host', fleet.server.url, '--name', 'bench-1', '--tags', 'x86,ci', '--cache-dir', cacheDir],
    { env: { S4OP_TOKEN: TOKEN } },
  );
  await agent.waitFor(/connected to/);
});
afterAll(async () => {
  await agent?.stop();
  await fleet?.stop();
  killAll();
});

const model = mlpModel({ width: 48, layers: 3 });
const count = (pred: (m: AgentMessage) => boolean) => seen.filter(pred).length;

describe('jobs over the link', () => {
  it('pushes a model once per hash, then measures from the cache', async () => {
    const first = await fleet.jobs.submit({
      target: { agent: 'bench-1' },
      models: [{ bytes: model, name: 'm.onnx' }],
      settings: FAST,
    });
    expect(first.agent.name).toBe('bench-1');
    expect(first.measurement.models[0]!.latency_ms.n).toBeGreaterThanOrEqual(16);
    const sha = first.measurement.models[0]!.sha256;
    expect(count((m) => m.type === 'need_model' && m.sha256 === sha)).toBe(1);
    expect(count((m) => m.type === 'model_stored' && m.sha256 === sha)).toBe(1);
    const second = await fleet.jobs.submit({ target: { tag: 'ci' }, models: [{ bytes: model }], settings: FAST });
    expect(second.job_id).not.toBe(first.job_id);
    expect(count((m) => m.type === 'need_model' && m.sha256 === sha)).toBe(1);
    expect(readdirSync(path.join(cacheDir, 'models'))).toContain(`${sha}.onnx`);
  });

  it('runs one measurement at a time; the others queue', async () => {
    // one new model for all three: they wait for the same bytes, then queue together
    const shared = mlpModel({ width: 40, layers: 2 });
    const models = [shared, shared, shared];
    const outcomes = await Promise.all(
      models.map((bytes, i) =>
        fleet.jobs.submit({ target: { agent: 'bench-1' }, models: [{ bytes }], settings: FAST, job_id: `queue-${i}` }),
      ),
    );
    const spans = outcomes
      .map(
        (o) =>
          [
            Date.parse(o.measurement.started_at),
            Date.parse(o.measurement.started_at) + o.measurement.duration_ms,
          ] as const,
      )
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1] - 1);
    const queued = seen.filter((m) => m.type === 'job_status' && m.job_id.startsWith('queue-') && m.state === 'queued');
    expect(Math.max(...queued.map((m) => (m.type === 'job_status' ? m.position : 0)))).toBeGreaterThanOrEqual(1);
  });

  it('treats job ids as idempotent on the host and on the agent', async () => {
    const a = fleet.jobs.submit({
      target: { agent: 'bench-1' },
      models: [{ bytes: model }],
      settings: FAST,
      job_id: 'same-id',
    });
    await expect(
      fleet.jobs.submit({
        target: { agent: 'bench-1' },
        models: [{ bytes: model }],
        settings: FAST,
        job_id: 'same-id',
      }),
    ).rejects.toMatchObject({ code: 'duplicate_job' });
    const first = await a;
    const again = await fleet.jobs.submit({
      target: { agent: 'bench-1' },
      models: [{ bytes: model }],
      settings: FAST,
      job_id: 'same-id',
    });
    expect(again).toEqual(first);
    // the agent, asked again directly, answers with the stored result instead of measuring twice
    const results = count((m) => m.type === 'result' && m.job_id === 'same-id');
    const conn = fleet.server.agents()[0]!;
    conn.send({
      type: 'job',
      job_id: 'same-id',
      mode: 'single',
      models: first.measurement.models.map((m) => ({ sha256: m.sha256, size: m.size_bytes })),
      settings: first.measurement.settings,
    });
    await expect
      .poll(() => count((m) => m.type === 'result' && m.job_id === 'same-id'), { timeout: 5000 })
      .toBe(results + 1);
    expect(agent.lines.filter((l) => /job same-id: measuring/.test(l))).toHaveLength(1);
  });

  it('cancels a running job and stops one at its timeout, with clear errors', async () => {
    const long = fleet.jobs.submit({
      target: { agent: 'bench-1' },
      models: [{ bytes: model }],
      settings: { ...FAST, min_duration_ms: 60_000, max_samples: 10_000_000 },
      job_id: 'to-cancel',
    });
    await expect
      .poll(() => count((m) => m.type === 'job_status' && m.job_id === 'to-cancel' && m.state === 'running'), {
        timeout: 10_000,
      })
      .toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(fleet.jobs.cancel('to-cancel')).toBe(true);
    await expect(long).rejects.toMatchObject({
      code: 'cancelled',
      message: expect.stringMatching(/to-cancel on bench-1: the job was cancelled/),
    });
    const slow = fleet.jobs.submit({
      target: { agent: 'bench-1' },
      models: [{ bytes: model }],
      settings: { ...FAST, min_duration_ms: 60_000, max_samples: 10_000_000, timeout_ms: 1200 },
    });
    await expect(slow).rejects.toMatchObject({
      code: 'timeout',
      message: expect.stringContaining("exceeded the job's timeout of 1200 ms"),
    });
  });

  it('fails bad models alone and keeps serving', async () => {
    const notOnnx = fleet.jobs.submit({
      target: { agent: 'bench-1' },
      models: [{ bytes: Buffer.from('GIF89a not a model at all') }],
      settings: FAST,
    });
    await expect(notOnnx).rejects.toBeInstanceOf(JobFailed);
    await expect(notOnnx).rejects.toMatchObject({ code: 'bad_model' });
    await expect(
      fleet.jobs.submit({ target: { agent: 'bench-1' }, models: [{ bytes: stringInputModel() }], settings: FAST }),
    ).rejects.toMatchObject({ code: 'unsynthesisable_input' });
    await expect(
      fleet.jobs.submit({
        target: { agent: 'bench-1' },
        models: [{ bytes: model }],
        settings: { ...FAST, shapes: { x: [1, 7] } },
      }),
    ).rejects.toMatchObject({
      code: 'unsynthesisable_input',
      message: expect.stringMatching(/dimension 1 is fixed at 48/),
    });
    await expect(
      fleet.jobs.submit({ target: { agent: 'bench-1' }, models: [{ bytes: model }], settings: { threads: -2 } }),
    ).rejects.toThrow(/field "threads"/);
    await expect(
      fleet.jobs.submit({ target: { tag: 'arm' }, models: [{ bytes: model }], waitForAgentMs: 200 }),
    ).rejects.toMatchObject({
      code: 'no_agent',
      message: expect.stringMatching(/no agent tagged "arm" connected within 200 ms \(connected: bench-1\[x86,ci\]\)/),
    });
    const ok = await fleet.jobs.submit({ target: { agent: 'bench-1' }, models: [{ bytes: model }], settings: FAST });
    expect(ok.measurement.models[0]!.latency_ms.median).toBeGreaterThan(0);
  });

  it('survives an agent killed mid-job: the restarted agent (same cache) gets the job again, not the bytes', async () => {
    const pending = fleet.jobs.submit({
      target: { agent: 'bench-1' },
      models: [{ bytes: model }],
      settings: { ...FAST, min_duration_ms: 3000 },
      job_id: 'agent-crash',
    });
    await expect
      .poll(() => count((m) => m.type === 'job_status' && m.job_id === 'agent-crash' && m.state === 'running'), {
        timeout: 10_000,
      })
      .toBe(1);
    const needsBefore = count((m) => m.type === 'need_model');
    agent.child.kill('SIGKILL');
    await agent.exited;
    agent = startCli(
      AGENT_CLI,
      ['--host', fleet.server.url, '--name', 'bench-1', '--tags', 'x86,ci', '--cache-dir', cacheDir],
      { env: { S4OP_TOKEN: TOKEN } },
    );
    const outcome = await pending;
    expect(outcome.measurement.models[0]!.latency_ms.n).toBeGreaterThanOrEqual(16);
    expect(agent.lines.some((l) => /job agent-crash: measuring/.test(l))).toBe(true);
    expect(count((m) => m.type === 'need_model')).toBe(needsBefore);
  });

  it('keeps a result across a host outage and delivers it on reconnect, then forgets it once acknowledged', async () => {
    const pending = fleet.jobs.submit({
      target: { agent: 'bench-1' },
      models: [{ bytes: model }],
      settings: { ...FAST, min_duration_ms: 1500 },
      job_id: 'outage',
    });
    pending.catch(() => undefined);
    await expect
      .poll(() => count((m) => m.type === 'job_status' && m.job_id === 'outage' && m.state === 'running'), {
        timeout: 10_000,
      })
      .toBe(1);
    await fleet.stop();
    await agent.waitFor(/job outage: median/, 15_000);
    expect(readdirSync(path.join(cacheDir, 'results'))).toContain('outage.json');
    fleet = await startHost(port);
    await expect.poll(() => count((m) => m.type === 'result' && m.job_id === 'outage'), { timeout: 20_000 }).toBe(1);
    const delivered = seen.find((m) => m.type === 'result' && m.job_id === 'outage');
    expect(delivered?.type === 'result' && delivered.measurement?.models[0]!.latency_ms.n).toBeGreaterThanOrEqual(16);
    await expect
      .poll(() => readdirSync(path.join(cacheDir, 'results')), { timeout: 5000 })
      .not.toContain('outage.json');
  });
});
