/**
 * Link and measurement overhead on loopback with a real agent process:
 *  - overhead_ms: wall time of a job on a 1 MB model the agent has not seen (push + hash check + store +
 *    fresh measurement process + load + first run + one timed run), minus the timed run itself; the
 *    median over fresh models, each sent to an idle agent (as in the pruning loop, where the host
 *    fine-tunes between candidates). overhead_back_to_back_ms: the same with no pause between jobs, so
 *    each also waits for its measurement process to start.
 *  - median_cv: coefficient of variation of the reported median latency over 10 repeated measurements
 *    of the same model with default settings (≥ 1 s and ≥ 64 samples each).
 * Targets: overhead_ms ≤ 300, median_cv ≤ 0.02. Writes results/agent-roundtrip.json.
 *
 *   npx tsx scripts/bench/agent-roundtrip.ts [--repeats 10] [--runtime onnxruntime-node]
 */
import os from 'node:os';
import { mlpModelOfSize } from '@s4op/host/testing';
import { coefficientOfVariation, DEFAULT_SETTINGS } from '@s4op/shared';
import { median, writeResult } from './common.js';
import { startBenchAgent } from './local-agent.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1]!;
}
const repeats = Number(arg('repeats', '10'));
const runtime = arg('runtime', 'onnxruntime-node');
if (!Number.isInteger(repeats) || repeats < 2)
  throw new Error(`--repeats must be an integer ≥ 2, got ${arg('repeats', '')}`);

const { fleet, stop } = await startBenchAgent();

try {
  // Stored-model timestamps: when the agent confirmed each hash.
  const stored = new Map<string, number>();
  fleet.server.on('message', (_a, m) => {
    if (m.type === 'model_stored') stored.set(m.sha256, performance.now());
  });

  const oneRun = {
    ...DEFAULT_SETTINGS,
    runtime,
    warmup_ms: 0,
    warmup_runs: 0,
    min_duration_ms: 0,
    min_samples: 1,
    max_samples: 1,
  } as const;
  // A first job warms the agent process itself (module loading), as a long-running agent would be.
  await fleet.jobs.submit({
    target: { agent: 'bench' },
    models: [{ bytes: mlpModelOfSize(1, 999) }],
    settings: oneRun,
    waitForAgentMs: 60_000,
  });

  type Round = {
    wall_ms: number;
    push_ms: number;
    load_ms: number;
    first_run_ms: number;
    timed_ms: number;
    overhead_ms: number;
  };
  /** One job on a model the agent has not seen; `idleMs` of quiet before it. */
  const round = async (seed: number, idleMs: number): Promise<Round> => {
    await new Promise((r) => setTimeout(r, idleMs));
    const bytes = mlpModelOfSize(1, seed);
    const t0 = performance.now();
    const o = await fleet.jobs.submit({ target: { agent: 'bench' }, models: [{ bytes }], settings: oneRun });
    const wall = performance.now() - t0;
    const f = o.measurement.models[0]!;
    const timed = f.latency_ms.mean * f.latency_ms.n;
    return {
      wall_ms: wall,
      push_ms: (stored.get(f.sha256) ?? t0) - t0,
      load_ms: f.load_ms,
      first_run_ms: f.first_run_ms,
      timed_ms: timed,
      overhead_ms: wall - timed,
    };
  };
  // As in the pruning loop, where the host fine-tunes and exports between candidates, the agent is idle
  // before each job (its next measurement process is then started and waiting)...
  const rounds: Round[] = [];
  for (let i = 0; i < repeats; i++) rounds.push(await round(i + 1, 1500));
  // ...and back to back, where each job also waits for its process to start.
  const backToBack: Round[] = [];
  for (let i = 0; i < repeats; i++) backToBack.push(await round(1000 + i, 0));

  const same = mlpModelOfSize(1, 0);
  const medians: number[] = [];
  let last;
  for (let i = 0; i < repeats; i++) {
    last = await fleet.jobs.submit({
      target: { agent: 'bench' },
      models: [{ bytes: same }],
      settings: { ...DEFAULT_SETTINGS, runtime },
    });
    medians.push(last.measurement.models[0]!.latency_ms.median);
  }

  const result = {
    overhead_ms: Number(median(rounds.map((r) => r.overhead_ms)).toFixed(1)),
    median_cv: Number(coefficientOfVariation(medians).toFixed(4)),
    targets: { overhead_ms: 300, median_cv: 0.02 },
    overhead_back_to_back_ms: Number(median(backToBack.map((r) => r.overhead_ms)).toFixed(1)),
    model_bytes: same.length,
    runtime: last!.measurement.runtime,
    overhead_breakdown_median_ms: {
      push_and_store: Number(median(rounds.map((r) => r.push_ms)).toFixed(1)),
      load: Number(median(rounds.map((r) => r.load_ms)).toFixed(1)),
      first_run: Number(median(rounds.map((r) => r.first_run_ms)).toFixed(2)),
      wall: Number(median(rounds.map((r) => r.wall_ms)).toFixed(1)),
    },
    repeated_medians_ms: medians.map((m) => Number(m.toFixed(5))),
    settings_for_cv: last!.measurement.settings,
    machine: `${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, ${process.platform}-${process.arch}`,
  };
  const file = writeResult('agent-roundtrip', result);
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `overhead_ms ${result.overhead_ms} (target ≤ 300), median_cv ${result.median_cv} (target ≤ 0.02) → ${file}`,
  );
} finally {
  await stop();
}
