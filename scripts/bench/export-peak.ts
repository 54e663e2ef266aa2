/**
 * Benchmark (issue 14, the device's own limit): the demo model (S4D d_model 32, d_state 32, 4 layers, L 196)
 * and the large model (d_model 128, d_state 64, L 784), exported with `auto`, measured on a real local agent
 * (onnxruntime-node, 1 thread, spinning off) in R interleaved rounds. The agent measures its MatMul peak once
 * (cached per runtime and thread count) and reports, for each of our exports, the achieved GFLOP/s (declared
 * work ÷ p50) and that as a fraction of its peak. Figures are medians over rounds.
 *
 *   npx tsx scripts/bench/export-peak.ts [--rounds 5]
 *
 * Writes results/export-peak.json and fills `peak_fraction_demo` / `peak_fraction_large` of
 * results/export-speed.json (the rest of that file is export-speed.ts's).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { exportModel, initBackend, SequenceModel } from '@s4op/host';
import { resolveSettings } from '@s4op/shared';
import { benchS4dConfig, intArg, median, RESULTS_DIR, writeResult } from './common.js';
import { startBenchAgent } from './local-agent.js';

const rounds = intArg('rounds', 5);
await initBackend('cpu');
const shape = (dModel: number, dState: number) => new SequenceModel(benchS4dConfig(dModel, dState), 0);
const models = [
  { name: 'demo', model: shape(32, 32), L: 196 },
  { name: 'large', model: shape(128, 64), L: 784 },
].map(({ name, model, L }) => {
  const r = exportModel(model, { mode: 'conv', length: L });
  model.dispose();
  return { name, variant: r.variant, bytes: r.bytes };
});
const settings = resolveSettings({ runtime: 'onnxruntime-node', threads: 1, spin: false, min_duration_ms: 1500 });

const { fleet, stop } = await startBenchAgent();
const figures = new Map<string, { p50: number[]; gflops: number[]; fraction: number[] }>();
let peak: unknown = null;
const loads: number[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    for (const m of r % 2 ? [...models].reverse() : models) {
      const o = await fleet.jobs.submit({
        target: { agent: 'bench' },
        models: [{ bytes: m.bytes, name: `${m.name}.onnx` }],
        settings,
        waitForAgentMs: 60_000,
      });
      const f = o.measurement.models[0]!;
      if (f.achieved_gflops == null || f.peak_fraction == null)
        throw new Error(
          `${m.name}: the agent reported no achieved GFLOP/s or peak fraction (device peak: ${JSON.stringify(o.measurement.device_peak ?? null)})`,
        );
      const acc = figures.get(m.name) ?? { p50: [], gflops: [], fraction: [] };
      acc.p50.push(f.latency_ms.median);
      acc.gflops.push(f.achieved_gflops);
      acc.fraction.push(f.peak_fraction);
      figures.set(m.name, acc);
      peak = o.measurement.device_peak ?? peak;
      loads.push(os.loadavg()[0]!);
    }
    console.error(`round ${r + 1}/${rounds} (load ${os.loadavg()[0]!.toFixed(2)})`);
  }
} finally {
  await stop();
}

const r4 = (v: number) => Number(v.toFixed(4));
const per = Object.fromEntries(
  models.map((m) => {
    const f = figures.get(m.name)!;
    return [
      m.name,
      {
        variant: m.variant,
        p50_ms: r4(median(f.p50)),
        achieved_gflops: r4(median(f.gflops)),
        peak_fraction: r4(median(f.fraction)),
        peak_fraction_per_round: f.fraction.map(r4),
      },
    ];
  }),
);
const result = {
  rounds,
  settings: { runtime: 'onnxruntime-node', threads: 1, spin: false },
  models: per,
  device_peak: peak,
  peak_fraction_demo: per.demo.peak_fraction,
  peak_fraction_large: per.large.peak_fraction,
  targets: { demo_ge_0_35: per.demo.peak_fraction >= 0.35, large_ge_0_60: per.large.peak_fraction >= 0.6 },
  load_average: { median: Number(median(loads).toFixed(2)), max: Number(Math.max(...loads).toFixed(2)) },
  machine: `${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, ${process.platform}-${process.arch}`,
};
console.log(JSON.stringify(result, null, 2));
console.log(`wrote ${writeResult('export-peak', result)}`);

// The peak keys of export-speed.json come from here.
const speedFile = `${RESULTS_DIR}export-speed.json`;
if (existsSync(speedFile)) {
  const speed = JSON.parse(readFileSync(speedFile, 'utf8')) as Record<string, unknown>;
  speed.peak_fraction_demo = result.peak_fraction_demo;
  speed.peak_fraction_large = result.peak_fraction_large;
  speed.peak_fraction_source = 'scripts/bench/export-peak.ts (results/export-peak.json)';
  writeFileSync(speedFile, `${JSON.stringify(speed, null, 2)}\n`);
  console.log(`filled peak_fraction_demo and peak_fraction_large of ${speedFile}`);
}
