/**
 * The live dashboard end to end: `s4op serve` and a real `s4op-agent` on loopback, the page opened in
 * headless Chromium (Debian's, driven by playwright-core). The page lists the agent with the facts the
 * server got in its hello; a measurement sent through the HTTP API appears in the page with the agent's
 * figure; a pruning run written to the workspace's run store by another writer shows up with its charts
 * and grows as candidates finish. A screenshot is saved to test-results/ (not committed).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../host/src/store/run-store.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';
import {
  AGENT_CLI,
  HOST_CLI,
  REPO,
  killAll,
  runCli,
  startCli,
  startServe,
  type LiveProcess,
} from '../helpers/processes.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'dash-token';
let dir: string;
let serve: LiveProcess & { url: string };
let http: string;
let context: BrowserContext;
let page: Page;

async function api<T>(method: string, route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${http}${route}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as T;
}

beforeAll(async () => {
  // CI installs Debian's chromium (.ci/run); a machine without it must not pass this test silently.
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the dashboard test`,
    );
  dir = await mkdtemp(path.join(tmpdir(), 's4op-dash-'));
  serve = await startServe(['--workspace', path.join(dir, 'ws')], TOKEN);
  http = serve.url.replace(/^ws/, 'http');
  const agent = startCli(AGENT_CLI, [
    '--host',
    serve.url,
    '--token',
    TOKEN,
    '--name',
    'dash-agent',
    '--tags',
    'e2e,loopback',
    '--cache-dir',
    path.join(dir, 'agent'),
  ]);
  await agent.waitFor(/connected to /, 30_000);
  context = await chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1200, height: 1800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${http}/dashboard#token=${TOKEN}`);
}, 90_000);

afterAll(async () => {
  if (page) {
    await mkdir(path.join(REPO, 'test-results'), { recursive: true });
    await page
      .screenshot({ path: path.join(REPO, 'test-results', 'dashboard.png'), fullPage: true })
      .catch(() => undefined);
  }
  await context?.close();
  killAll();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dashboard in headless Chromium', () => {
  it('lists the connected agent with its device facts', async () => {
    const row = page.locator('#agent-table tr[data-agent="dash-agent"][data-online="true"]');
    await row.waitFor({ timeout: 20_000 });
    const { agents } = await api<{
      agents: {
        name: string;
        device: { cpu_model: string; cores: number; os: string; arch: string };
        tags: string[];
      }[];
    }>('GET', '/v1/agents');
    const facts = agents.find((a) => a.name === 'dash-agent')!.device;
    const cells = await row.locator('td').allInnerTexts();
    expect(cells[0]).toBe('dash-agent');
    expect(cells[2]).toBe(facts.cpu_model);
    expect(cells[3]).toBe(String(facts.cores));
    expect(cells[6]).toBe(`${facts.os} ${facts.arch}`);
    expect(cells[8]).toMatch(/onnxruntime-(node|web)/);
    expect(cells[9]).toBe('e2e, loopback');
  });

  it("shows a measurement triggered through the API with the agent's figures", async () => {
    const before = Number(await page.locator('body').getAttribute('data-updates'));
    const model = Buffer.from(mlpModel({ width: 32, layers: 2 })).toString('base64');
    const settings = { min_duration_ms: 50, warmup_ms: 10, warmup_runs: 2, min_samples: 8 };
    const outcome = await api<{
      job_id: string;
      measurement: { models: { latency_ms: { median: number; p90: number } }[] };
    }>('POST', '/v1/measure', {
      agent: 'dash-agent',
      settings,
      models: [{ name: 'mlp', base64: model }],
    });
    const row = page.locator(`#measurement-table tr[data-job="${outcome.job_id}"]`);
    await row.waitFor({ timeout: 20_000 });
    const cells = await row.locator('td').allInnerTexts();
    expect(cells[2]).toBe('dash-agent');
    expect(cells[4]).toBe(outcome.measurement.models[0]!.latency_ms.median.toFixed(3));
    expect(cells[5]).toBe(outcome.measurement.models[0]!.latency_ms.p90.toFixed(3));
    // a foreign model declares no work; the agent's view of background load comes with every job
    expect(cells[6]).toBe('–');
    expect(cells[7]).toBe('–');
    expect(cells[8]).toMatch(/^\d+ %( busy)?$/);
    expect(Number(await page.locator('body').getAttribute('data-updates'))).toBeGreaterThan(before);
  });

  it('follows a pruning run as its candidates finish (charts grow)', async () => {
    const store = RunStore.openWorkspace(path.join(dir, 'ws'));
    try {
      const run = store.createRun({
        id: 'live-run',
        strategy: 's4op',
        base_checkpoint: '/ck',
        dataset: { spec: { source: 'smnist14' } },
        config: {},
      });
      const add = (step: number, rate: number, active: number[][], val: number, p50: number) => {
        const c = store.startCandidate({ run_id: run.id, step, rate, seed: 0 });
        const m = store.addMeasurement({
          model_sha256: `m-${step}`,
          agent: 'dash-agent',
          settings: {},
          kind: 'measured',
          p50_ms: p50,
          p90_ms: p50 * 1.2,
          statistics: { n: 10, min: p50 * 0.9, median: p50, mean: p50, p90: p50 * 1.2, p99: p50 * 1.5, max: p50 * 2 },
        });
        store.finishCandidate(c.id, {
          active_operators: active,
          bypassed: active.map((a) => 4 - a.length),
          operators_active: active.flat().length,
          operators_total: 8,
          params: 100,
          checkpoint: '/x',
          weights_sha256: 'w',
          model_sha256: `m-${step}`,
          val_metric: val,
          val_loss: 0,
          test_metric: val,
          test_loss: 0,
          finetune_epochs: 1,
          finetune_steps: 1,
          finetune_seconds: 1,
          measurement_id: m.id,
        });
        store.choose(run.id, step, c.id);
      };
      add(
        0,
        0,
        [
          [0, 1, 2, 3],
          [0, 1, 2, 3],
        ],
        0.9,
        3.25,
      );
      await page.locator('#run[data-run="live-run"][data-finished="1"]').waitFor({ timeout: 20_000 });
      for (const id of ['metric', 'ratio', 'latency', 'pareto', 'profile', 'allocation', 'distribution', 'thermals'])
        expect(await page.locator(`#chart-${id} svg`).count()).toBe(1);
      const points = () =>
        page.locator('#chart-latency [aria-label*="p50 latency (ms)"][aria-label*="candidate:"]').count();
      expect(await points()).toBe(1);
      add(1, 50, [[0, 1, 2], [3]], 0.85, 2.125);
      await page.locator('#run[data-finished="2"]').waitFor({ timeout: 20_000 });
      expect(await points()).toBe(2);
      expect(
        await page
          .locator('#chart-latency [aria-label*="p50 latency (ms): 2.125; candidate: step 1 · 50% · seed 0"]')
          .count(),
      ).toBe(1);
      expect(await page.locator('#candidates tr[data-candidate]').count()).toBe(2);
    } finally {
      store.close();
    }
  });

  it('shows a deployment made with s4op deploy through the server', async () => {
    const file = path.join(dir, 'deployed.onnx');
    await writeFile(file, mlpModel({ width: 16, layers: 1, seed: 3 }));
    const settings = JSON.stringify({ min_duration_ms: 50, warmup_ms: 10, warmup_runs: 2, min_samples: 8 });
    const r = await runCli(
      HOST_CLI,
      [
        'deploy',
        '--model',
        file,
        '--to',
        'agent:dash-agent',
        '--canary',
        '0',
        '--server',
        http,
        '--token',
        TOKEN,
        '--settings',
        settings,
        '--workspace',
        path.join(dir, 'ws'),
        '--json',
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as { id: string; status: string };
    expect(d.status).toBe('succeeded');
    const row = page.locator(`#deployment-table tr[data-deployment="${d.id}"]`);
    // The row appears while the rollout runs and follows it to its end.
    await row.locator('td:nth-child(2)', { hasText: d.status }).waitFor({ timeout: 20_000 });
    const cells = await row.locator('td').allInnerTexts();
    expect(cells[1]).toBe(d.status);
    expect(cells[2]).toBe('deployed.onnx');
    expect(cells[3]).toBe('agent:dash-agent');
  });

  it('refuses its data without the token, and the page says so', async () => {
    const bare = await fetch(`${http}/v1/dashboard`);
    expect(bare.status).toBe(401);
    const events = await fetch(`${http}/v1/dashboard/events`, { headers: { authorization: 'Bearer wrong' } });
    expect(events.status).toBe(401);
    const other = await context.newPage();
    try {
      await other.goto(`${http}/dashboard#token=wrong`);
      await other.locator('#status', { hasText: 'wrong token' }).waitFor({ timeout: 10_000 });
      expect(await other.locator('#login').isVisible()).toBe(true);
      expect(await other.locator('#agent-table').count()).toBe(0);
    } finally {
      await other.close();
    }
  });
});
