/**
 * Effect of the `spin` measurement setting (onnxruntime's session.intra_op.allow_spinning) on the latency a
 * real agent reports, for 1 and 2 intra-op threads, spinning left at onnxruntime's default or turned off.
 * Models: the exported S4D (d_model 128, 4 layers, d_state 64, L 784, conv mode, batch 1) and a 4-layer
 * 1024-wide MLP at batch 64. Configurations run in interleaved rounds so the machine's load falls on all
 * alike; figures are medians over rounds of each measurement's p50. `--busy N` adds N busy-looping
 * processes for the whole run (a loaded board); the load average is recorded either way.
 *
 *   npx tsx scripts/bench/agent-spin.ts [--rounds 3] [--busy 0]
 *
 * Writes results/agent-spin.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { exportModel, initBackend, SequenceModel } from '@s4op/host';
import { mlpModel } from '@s4op/host/testing';
import { DEFAULT_SETTINGS, resolveSettings, type MeasureSettings } from '@s4op/shared';
import { benchS4dConfig, intArg, median, writeResult } from './common.js';
import { startBenchAgent } from './local-agent.js';

const rounds = intArg('rounds', 3);
const busyArg = process.argv.indexOf('--busy');
const busy = busyArg < 0 ? 0 : Number(process.argv[busyArg + 1]);
if (!Number.isInteger(busy) || busy < 0)
  throw new Error(`--busy needs a non-negative integer, got "${process.argv[busyArg + 1]}"`);

await initBackend('cpu');
const s4d = new SequenceModel(benchS4dConfig(128, 64), 0);
const MODELS = [
  { name: 's4d-h128-l784', bytes: exportModel(s4d, { mode: 'conv', length: 784 }).bytes },
  { name: 'mlp-1024x4-b64', bytes: mlpModel({ width: 1024, layers: 4, batch: 64 }) },
];
const CONFIGS: { label: string; settings: MeasureSettings }[] = [];
for (const threads of [1, 2]) {
  for (const spin of [undefined, false]) {
    CONFIGS.push({
      label: `threads ${threads}, spin ${spin === undefined ? 'default' : 'off'}`,
      settings: resolveSettings({ ...DEFAULT_SETTINGS, runtime: 'onnxruntime-node', threads, spin }),
    });
  }
}

const { fleet, stop } = await startBenchAgent();
const spinners: ChildProcess[] = [];
for (let i = 0; i < busy; i++) spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));

try {
  const load_before = os.loadavg()[0]!;
  const p50 = new Map<string, number[]>();
  const applied = new Map<string, Record<string, unknown>>();
  for (let r = 0; r < rounds; r++) {
    for (const m of MODELS) {
      for (const c of CONFIGS) {
        const o = await fleet.jobs.submit({
          target: { agent: 'bench' },
          models: [{ bytes: m.bytes, name: m.name }],
          settings: c.settings,
          waitForAgentMs: 60_000,
        });
        const key = `${m.name} | ${c.label}`;
        p50.set(key, [...(p50.get(key) ?? []), o.measurement.models[0]!.latency_ms.median]);
        applied.set(c.label, o.measurement.runtime.settings);
      }
    }
    console.error(`round ${r + 1}/${rounds} done (load ${os.loadavg()[0]!.toFixed(2)})`);
  }
  const medians = Object.fromEntries([...p50].map(([k, v]) => [k, Number(median(v).toFixed(4))]));
  const ratio = (model: string, threads: number) =>
    Number(
      (
        medians[`${model} | threads ${threads}, spin default`]! / medians[`${model} | threads ${threads}, spin off`]!
      ).toFixed(2),
    );
  const result = {
    p50_ms_median_over_rounds: medians,
    speedup_spin_off: Object.fromEntries(
      MODELS.flatMap((m) => [1, 2].map((t) => [`${m.name} threads ${t}`, ratio(m.name, t)])),
    ),
    rounds,
    busy_processes: busy,
    load_average_1m: { before: Number(load_before.toFixed(2)), after: Number(os.loadavg()[0]!.toFixed(2)) },
    runtime_settings: Object.fromEntries(applied),
    machine: `${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, ${process.platform}-${process.arch}`,
  };
  const file = writeResult('agent-spin', result);
  console.log(JSON.stringify(result, null, 2));
  console.log(`→ ${file}`);
} finally {
  for (const s of spinners) s.kill('SIGKILL');
  await stop();
}
