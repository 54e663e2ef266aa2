/**
 * The browser agent against the node agent, on one machine, same models, same settings, interleaved:
 *   node                 s4op-agent with onnxruntime-node (1 thread)
 *   node_web             s4op-agent with onnxruntime-web (WASM in Node, 1 thread)
 *   browser_wasm_1       a headless Chromium tab at /agent (cross-origin isolated), WASM, 1 thread
 *   browser_wasm_threads the same tab, WASM with 2 threads (SharedArrayBuffer: isolation makes it possible)
 *   browser_webgpu       the same tab's WebGPU EP, only when the browser offers an adapter (said when not)
 * on the demo model (S4D d_model 32, d_state 32, 4 layers, L 196) and the large one (d_model 128, d_state 64,
 * L 784). Each round runs every (config, model) job once, in a rotated order, so drift hits all alike.
 * Per config and model: p50_ms (median over rounds of each job's median) and between_job_cv (CV of the job
 * medians across rounds: how repeatable one job's figure is). Writes results/browser-agent.json.
 *
 *   npx tsx scripts/bench/browser-agent.ts [--rounds 3]
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { chromium } from 'playwright-core';
import { coefficientOfVariation, type Measurement } from '@s4op/shared';
import { initBackend } from '../../host/src/backend.js';
import { exportModel } from '../../host/src/export/export.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { benchS4dConfig, intArg, median, writeResult } from './common.js';
import { startBenchAgent } from './local-agent.js';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
const rounds = intArg('rounds', 3);
const SETTINGS = { warmup_ms: 100, warmup_runs: 5, min_duration_ms: 400, min_samples: 20, timeout_ms: 120_000 };

await initBackend('cpu');
function exported(dModel: number, dState: number, length: number): Uint8Array {
  const m = new SequenceModel(benchS4dConfig(dModel, dState), 0);
  try {
    return exportModel(m, { mode: 'conv', length }).bytes;
  } finally {
    m.dispose();
  }
}
const models = { demo: exported(32, 32, 196), large: exported(128, 64, 784) };
console.error(`exported: demo ${models.demo.length} B, large ${models.large.length} B`);

const { fleet, stop } = await startBenchAgent();
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
const http = fleet.server.url.replace(/^ws/, 'http');
const page = await (await browser.newContext()).newPage();
page.on('console', (m) => console.error(`[tab] ${m.text()}`));
page.on('pageerror', (e) => console.error(`[tab] ${e.message}`));
await page.goto(`${http}/agent#token=bench-token&name=bench-tab`);
try {
  await page.locator('#state[data-state="connected"]').waitFor({ timeout: 30_000 });
} catch (err) {
  console.error(`the tab did not connect; it shows:\n${await page.evaluate(() => document.body.innerText)}`);
  await browser.close();
  await stop();
  throw err;
}
console.error('browser tab connected');
const tab = fleet.server.agentsNamed('bench-tab')[0]!;
const gpu = tab.hello.runtimes.find((r) => r.name === 'onnxruntime-web-webgpu');
// wait for the node agent too
for (let i = 0; i < 600 && !fleet.server.agentsNamed('bench').length; i++) await new Promise((r) => setTimeout(r, 100));

const configs: Record<string, { agent: string; runtime: string; threads: number }> = {
  node: { agent: 'bench', runtime: 'onnxruntime-node', threads: 1 },
  node_web: { agent: 'bench', runtime: 'onnxruntime-web', threads: 1 },
  browser_wasm_1: { agent: 'bench-tab', runtime: 'onnxruntime-web', threads: 1 },
  browser_wasm_threads: { agent: 'bench-tab', runtime: 'onnxruntime-web', threads: 2 },
};
if (gpu?.available) configs.browser_webgpu = { agent: 'bench-tab', runtime: 'onnxruntime-web-webgpu', threads: 1 };
else console.error(`browser_webgpu: not measured, headless Chromium has no WebGPU adapter here (${gpu?.reason})`);

const jobs = Object.keys(configs).flatMap((c) =>
  (Object.keys(models) as (keyof typeof models)[]).map((m) => [c, m] as const),
);
const medians = new Map<string, number[]>();
const extra = new Map<string, Record<string, unknown>>();
const t0 = Date.now();
for (let r = 0; r < rounds; r++) {
  const order = jobs.map((_, i) => jobs[(i + r * 3) % jobs.length]!);
  for (const [c, m] of order) {
    const cfg = configs[c]!;
    const out = await fleet.jobs.submit({
      target: { agent: cfg.agent },
      models: [{ bytes: Buffer.from(models[m]), name: m }],
      settings: { ...SETTINGS, runtime: cfg.runtime, threads: cfg.threads },
    });
    const meas = out.measurement as Measurement;
    const key = `${c}/${m}`;
    medians.set(key, [...(medians.get(key) ?? []), meas.models[0]!.latency_ms.median]);
    extra.set(key, { runtime: `${meas.runtime.name} ${meas.runtime.version}`, settings: meas.runtime.settings });
    console.error(`round ${r + 1}/${rounds} ${key}: median ${meas.models[0]!.latency_ms.median.toFixed(3)} ms`);
  }
}

const results: Record<string, Record<string, unknown>> = {};
for (const c of Object.keys(configs)) {
  results[c] = {};
  for (const m of Object.keys(models)) {
    const xs = medians.get(`${c}/${m}`)!;
    results[c]![m] = {
      p50_ms: Number(median(xs).toFixed(4)),
      between_job_cv: Number(coefficientOfVariation(xs).toFixed(4)),
      job_medians_ms: xs.map((x) => Number(x.toFixed(4))),
      ...extra.get(`${c}/${m}`),
    };
  }
}
function byConfig(key: 'p50_ms' | 'between_job_cv'): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(results).map(([c, byModel]) => [
      c,
      Object.fromEntries(Object.entries(byModel).map(([m, r]) => [m, (r as Record<string, unknown>)[key]])),
    ]),
  );
}
const file = writeResult('browser-agent', {
  description:
    'p50_ms: median over rounds of each job median; between_job_cv: CV of the job medians across rounds (interleaved, rotated order)',
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown' },
  browser: `${browser.version()} (headless, ${CHROMIUM})`,
  rounds,
  settings: SETTINGS,
  models: {
    demo: 'S4D d_model 32, d_state 32, 4 layers, L 196',
    large: 'S4D d_model 128, d_state 64, 4 layers, L 784',
  },
  browser_webgpu: gpu?.available ? 'measured' : `not available: ${gpu?.reason ?? 'no WebGPU runtime reported'}`,
  // The keys: each figure by configuration (node, node_web, browser_wasm_1, …), then by model.
  p50_ms: byConfig('p50_ms'),
  between_job_cv: byConfig('between_job_cv'),
  results,
  wall_s: Math.round((Date.now() - t0) / 1000),
});
console.error(`wrote ${file}`);
await browser.close();
await stop();
