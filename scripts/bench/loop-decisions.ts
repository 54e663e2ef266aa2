/**
 * Whether the loop's latency figures hold still enough to decide on (issue 13).
 *
 * (a)/(b) Stability. The demo-scale S4D (d_model 32, d_state 32, 4 layers, L 196, conv export) and its
 * candidates pruned 10/30/50/70 % (nested active sets, the S4oP depth rule) are measured on one real local
 * agent in R rounds. Each round runs, interleaved, every model alone in its own job (a) and every candidate
 * paired with the base in one A/B job (b). Per model: the CV over rounds of the separate jobs' p50 (a), and
 * per candidate the CV over rounds of the paired ratio (b). Both quiet and under a background load this
 * script makes itself: a process that keeps one core busy in irregular bursts (busy 20–300 ms, idle
 * 20–300 ms, seeded). The load average and the agent's own background-load reading (when it sends one) are
 * recorded with each condition.
 *
 * (c) Decisions. Two whole demo-configuration prune runs (`s4op prune` as `npm start` runs it: Taylor
 * importance, rates 10…90 %, one fine-tune epoch of ≤ 60 steps at lr 1e-3, --max-drop 10, --budget 0.85x
 * --steer, the demo's timing settings; same seeds; each run in a store of its own, so nothing is read from the
 * other's measurement cache) on the same base: the same chosen rate both times, and the chosen model on the
 * front of what each run measured.
 *
 *   npx tsx scripts/bench/loop-decisions.ts [--rounds 5] [--base CHECKPOINT] [--skip-runs]
 *
 * Without --base, the demo's base is trained first (s4op train, as npm start does; a few minutes).
 * Writes results/loop-decisions.json.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import {
  allActive,
  applyOperators,
  bypassedCounts,
  exportModel,
  initBackend,
  s4opAllocation,
  SequenceModel,
  targetBypassed,
  withBypassed,
} from '@s4op/host';
import { coefficientOfVariation, resolveSettings } from '@s4op/shared';
import { benchS4dConfig, intArg, median, writeResult } from './common.js';
import { startBenchAgent } from './local-agent.js';

const HOST_CLI = fileURLToPath(new URL('../../host/dist/cli/main.js', import.meta.url));
const rounds = intArg('rounds', 5);
const argOf = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const skipRuns = process.argv.includes('--skip-runs');

// The demo's model and measurement settings (scripts/start.mjs, full configuration).
const H = 32;
const N_LAYERS = 4;
const L = 196;
const RATES = [10, 30, 50, 70];
const DEMO_SETTINGS = { min_duration_ms: 1000, warmup_ms: 250 };
const settings = resolveSettings(DEMO_SETTINGS);

await initBackend('cpu');
const model = new SequenceModel(benchS4dConfig(H, 32, N_LAYERS), 0);
// Nested candidates: each rate bypasses channels on top of the previous one's (channel choice does not change
// the cost; the count per layer follows the S4oP rule).
const models: { name: string; rate: number; bytes: Uint8Array }[] = [
  { name: 'base', rate: 0, bytes: exportModel(model, { mode: 'conv', length: L }).bytes },
];
let active = allActive(H, N_LAYERS);
for (const rate of RATES) {
  const counts = s4opAllocation(H, N_LAYERS, targetBypassed(rate, H, N_LAYERS), bypassedCounts(active, H));
  const drop = active.map((layer, i) => layer.slice(layer.length - (counts[i]! - (H - layer.length))));
  active = withBypassed(active, drop);
  applyOperators(model, active);
  models.push({ name: `pruned-${rate}`, rate, bytes: exportModel(model, { mode: 'conv', length: L }).bytes });
}
model.dispose();

/** One core busy in irregular bursts (seeded), as a board's background services would be. */
function burstLoad(): ChildProcess {
  const src = `
    let s = 12345; const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    const cycle = () => { const busy = 20 + 280 * rnd(); const t = Date.now(); while (Date.now() - t < busy) {} setTimeout(cycle, 20 + 280 * rnd()); };
    cycle();`;
  return spawn(process.execPath, ['-e', src], { stdio: 'ignore' });
}

const cv = (xs: number[]) => Number(coefficientOfVariation(xs).toFixed(5));

async function stability(label: string, loaded: boolean) {
  const { fleet, stop } = await startBenchAgent();
  const load = loaded ? burstLoad() : null;
  const loads: number[] = [];
  const agentBusy: unknown[] = [];
  const alone = new Map<string, number[]>();
  const ratios = new Map<string, number[]>();
  const submit = (ms: typeof models) =>
    fleet.jobs.submit({
      target: { agent: 'bench' },
      models: ms.map((m) => ({ bytes: m.bytes, name: m.name })),
      settings,
      waitForAgentMs: 60_000,
    });
  try {
    for (let r = 0; r < rounds; r++) {
      // Alone and paired jobs interleaved; the order of models rotates from round to round.
      const order = models.map((_, i) => models[(i + r) % models.length]!);
      for (const m of order) {
        const single = await submit([m]);
        alone.set(m.name, [...(alone.get(m.name) ?? []), single.measurement.models[0]!.latency_ms.median]);
        if (m.rate > 0) {
          const pair = await submit([models[0]!, m]);
          ratios.set(m.name, [...(ratios.get(m.name) ?? []), pair.measurement.ratio!.median]);
          agentBusy.push((pair.measurement as { background_load?: unknown }).background_load ?? null);
        }
        loads.push(os.loadavg()[0]!);
      }
      console.error(`${label}: round ${r + 1}/${rounds} (load ${os.loadavg()[0]!.toFixed(2)})`);
    }
  } finally {
    load?.kill('SIGKILL');
    await stop();
  }
  const absoluteCv = Object.fromEntries([...alone].map(([k, v]) => [k, cv(v)]));
  const ratioCv = Object.fromEntries([...ratios].map(([k, v]) => [k, cv(v)]));
  return {
    background: loaded ? 'one core busy in irregular bursts (20–300 ms busy, 20–300 ms idle)' : 'none',
    absolute_cv_per_model: absoluteCv,
    ratio_cv_per_candidate: ratioCv,
    absolute_cv_median: Number(median(Object.values(absoluteCv)).toFixed(5)),
    ratio_cv_median: Number(median(Object.values(ratioCv)).toFixed(5)),
    ratio_cv_max: Math.max(...Object.values(ratioCv)),
    p50_ms_per_model: Object.fromEntries([...alone].map(([k, v]) => [k, v.map((x) => Number(x.toFixed(4)))])),
    ratio_per_candidate: Object.fromEntries([...ratios].map(([k, v]) => [k, v.map((x) => Number(x.toFixed(4)))])),
    ratio_median_per_candidate: Object.fromEntries([...ratios].map(([k, v]) => [k, Number(median(v).toFixed(4))])),
    load_average_1m: { median: Number(median(loads).toFixed(2)), max: Number(Math.max(...loads).toFixed(2)) },
    agent_background_load: agentBusy.filter((b) => b !== null).length ? agentBusy : null,
  };
}

const quiet = await stability('quiet', false);
const loaded = await stability('loaded', true);

interface RunOutcome {
  run: string;
  status: string;
  stop_reason: string;
  chosen_rate: number | null;
  chosen_ratio: number | null;
  chosen_val: number | null;
  on_front: boolean;
  candidates: { step: number; rate: number; val: number; ratio: number | null; flags: string[] }[];
  seconds: number;
}

function cli(args: string[], timeoutMs: number): string {
  const r = spawnSync(process.execPath, [HOST_CLI, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`s4op ${args[0]} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})`);
  return r.stdout;
}

const runs: RunOutcome[] = [];
const work = mkdtempSync(path.join(os.tmpdir(), 's4op-loop-decisions-'));
try {
  if (!skipRuns) {
    let base = argOf('base');
    if (!base) {
      base = path.join(work, 'base');
      console.error('training the demo base (s4op train, as npm start does)…');
      cli(
        [
          'train',
          '--model',
          's4d',
          '--dataset',
          'smnist14',
          '--d-model',
          '32',
          '--d-state',
          '32',
          '--layers',
          '4',
          '--epochs',
          '3',
          '--batch-size',
          '32',
          '--lr',
          '0.01',
          '--out',
          base,
          '--json',
        ],
        3_600_000,
      );
    }
    for (const id of ['a', 'b']) {
      // A store of its own per run: the second run measures everything anew instead of reading the first's cache.
      const ws = path.join(work, `workspace-${id}`);
      const t0 = Date.now();
      console.error(`prune run ${id} (demo configuration)…`);
      cli(
        [
          'prune',
          '--checkpoint',
          base,
          '--workspace',
          ws,
          '--run-id',
          id,
          '--strategy',
          'importance',
          '--criteria',
          'taylor',
          '--rates',
          '10,30,50,70,90',
          '--finetune-epochs',
          '1',
          '--max-steps',
          '60',
          '--lr',
          '0.001',
          '--max-drop',
          '10',
          '--budget',
          '0.85x',
          '--steer',
          '--settings',
          JSON.stringify(DEMO_SETTINGS),
          '--json',
        ],
        3_600_000,
      );
      const db = new Database(path.join(ws, 'runs.sqlite'), { readonly: true });
      const run = db.prepare('SELECT status, stop_reason, summary FROM runs WHERE id = ?').get(id) as {
        status: string;
        stop_reason: string;
        summary: string;
      };
      const summary = JSON.parse(run.summary) as { final_candidate: number; front: number[] };
      const cands = (
        db
          .prepare('SELECT id, step, rate, val_metric, extra FROM candidates WHERE run_id = ? ORDER BY step, seed')
          .all(id) as { id: number; step: number; rate: number; val_metric: number; extra: string | null }[]
      ).map((c) => {
        const paired = (c.extra ? JSON.parse(c.extra) : {}).paired as
          { ratio: number; busy: boolean; not_faster_than_parent: boolean } | undefined;
        return {
          id: c.id,
          step: c.step,
          rate: c.rate,
          val: c.val_metric,
          ratio: c.step === 0 ? 1 : (paired?.ratio ?? null),
          flags: [
            ...(paired?.not_faster_than_parent ? ['not faster than its parent'] : []),
            ...(paired?.busy ? ['busy'] : []),
          ],
        };
      });
      db.close();
      const final = cands.find((c) => c.id === summary.final_candidate) ?? null;
      runs.push({
        run: id,
        status: run.status,
        stop_reason: run.stop_reason,
        chosen_rate: final?.rate ?? null,
        chosen_ratio: final?.ratio ?? null,
        chosen_val: final?.val ?? null,
        on_front: summary.front.includes(summary.final_candidate),
        candidates: cands.map(({ id: _id, ...c }) => c),
        seconds: Math.round((Date.now() - t0) / 1000),
      });
      console.error(`run ${id}: ${run.status} (${run.stop_reason}); answer at ${final?.rate}% (ratio ${final?.ratio})`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const result = {
  model: { ssm: 's4d', d_model: H, d_state: 32, n_layers: N_LAYERS, length: L, mode: 'conv', rates: RATES },
  settings: DEMO_SETTINGS,
  rounds,
  // Headline figures: medians over models (a) and candidates (b), under the background load (the harder case).
  absolute_cv: loaded.absolute_cv_median,
  ratio_cv: loaded.ratio_cv_median,
  absolute_cv_quiet: quiet.absolute_cv_median,
  ratio_cv_quiet: quiet.ratio_cv_median,
  ratio_cv_target: 0.01,
  demo_ratio_at_70: quiet.ratio_median_per_candidate['pruned-70'] ?? null,
  same_chosen_rate: runs.length === 2 ? runs[0]!.chosen_rate === runs[1]!.chosen_rate : null,
  chosen_on_front: runs.length ? runs.every((r) => r.on_front) : null,
  load_average: { quiet: quiet.load_average_1m, loaded: loaded.load_average_1m },
  quiet,
  loaded,
  runs,
  machine: `${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, ${process.platform}-${process.arch}`,
};
const file = writeResult('loop-decisions', result);
console.log(JSON.stringify({ ...result, quiet: undefined, loaded: undefined }, null, 2));
console.log(`→ ${file}`);
