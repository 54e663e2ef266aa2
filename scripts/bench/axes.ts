/**
 * Benchmark (issue 15): the sMNIST S4D with d_state 64 (d_model 64, 4 layers; sMNIST 14×14, L = 196) shrunk
 * along each axis and along all three at once.
 *
 * 1. One-shot state pruning, no retraining: test accuracy at every fraction of states (5 % grid) pruned by
 *    LAST, AIRE and random (3 seeds, median); per criterion the largest fraction within 0.5 test points of the
 *    base — with the papers' per-state threshold (`one_shot_states`: channels keep different counts, the export
 *    pads each layer to its widest channel, whose cost is `state_padding` at LAST's fraction) and with the
 *    balanced layout the search uses (`one_shot_states_balanced`: same count per channel of a layer).
 * 2. Latency by fraction of states pruned, no fine-tune (`state_latency`): the base with LAST's balanced masks at
 *    each state rate, exported by `auto` (the variant it picks is recorded), paired with the base on a local
 *    agent — what the states axis can buy before accuracy decides.
 * 3. Four searches on a local agent (onnxruntime-node, conv mode, every candidate paired with the base):
 *    operators alone, states alone, int8 alone, and the joint search (--axes operators,states,int8), each with
 *    a 1-point validation drop limit; per search the answer's paired latency ratio (at_1pt_ratio) and its
 *    test drop. The searches are resumable runs in the workspace's store.
 *
 *   npx tsx scripts/bench/axes.ts --base DIR [--workspace .s4op/bench-axes] [--seeds 2] [--finetune-epochs 1]
 *     [--lr 1e-3] [--skip-one-shot] [--skip-state-latency] [--skip-search] [--export-dir DIR]
 *     [--strategy s4op|importance]
 *
 * --strategy importance reruns the two searches whose operator choice it changes (operators alone, joint) with
 * our importance strategy (Taylor scores, score-following allocation, one candidate per rate) and records them
 * as at_1pt_ratio_importance next to the s4op figures.
 *
 * --base: a checkpoint of that shape trained on smnist14 (train 4000 / val 1000 / test 2000), e.g.
 *   npx s4op train --model s4d --dataset smnist14 --d-model 64 --d-state 64 --layers 4 --epochs 15 --lr 1e-2 \
 *     --patience 0 --train 4000 --val 1000 --test 2000 --out checkpoints/s4d-h64-n64
 * --export-dir: writes base.onnx and each answer's ONNX there, for measuring on a board
 *   (scripts/agent-arm64/run.sh with S4OP_ARM64_PAIRS=DIR measures each paired with base.onnx; its output
 *   goes back in with --board-file FILE --skip-one-shot --skip-search).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  AgentMeasurer,
  chooseStateMasks,
  decodeModel,
  evaluate,
  exportModel,
  initBackend,
  loadCheckpoint,
  parseCriteria,
  reloadDataset,
  runSearch,
  RunStore,
  S4OP_FINETUNE,
  type Axis,
  type SearchOptions,
  type StateLayout,
} from '@s4op/host';
import { median, RESULTS_DIR, writeResult } from './common.js';

const { values: a } = parseArgs({
  options: {
    base: { type: 'string' },
    workspace: { type: 'string', default: '.s4op/bench-axes' },
    seeds: { type: 'string', default: '2' },
    'finetune-epochs': { type: 'string', default: '1' },
    lr: { type: 'string', default: '1e-3' },
    'skip-one-shot': { type: 'boolean', default: false },
    'skip-search': { type: 'boolean', default: false },
    'skip-state-latency': { type: 'boolean', default: false },
    'export-dir': { type: 'string' },
    /** s4op (the paper's: random channels under the depth rule) or importance (Taylor scores, score allocation). */
    strategy: { type: 'string', default: 's4op' },
    /** The output of scripts/agent-arm64/run.sh with S4OP_ARM64_PAIRS: its "pair NAME {…}" lines become `board`. */
    'board-file': { type: 'string' },
    backend: { type: 'string' },
  },
});
if (!a.base)
  throw new Error('give --base DIR: an S4D checkpoint (d_model 64, d_state 64, 4 layers) trained on smnist14');
const base = path.resolve(a.base);
const ws = path.resolve(a.workspace!);
const load = [loadavg()[0]!];
const log = (l: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${l}`);
const backend = await initBackend(a.backend);
const { model: baseModel, config: baseConfig } = await loadCheckpoint(base);
const spec = (baseConfig.dataset as { spec?: Record<string, unknown> } | undefined)?.spec;
if (!spec) throw new Error(`${base} records no dataset spec`);
const data = await reloadDataset(spec);
const c = baseModel.config;
const baseTest = evaluate(baseModel, data.test).metric;
const baseVal = evaluate(baseModel, data.val).metric;
log(
  `backend ${backend.name}; base ${c.ssm} d_model ${c.dModel} d_state ${c.dState} ${c.nLayers} layers: val ${(100 * baseVal).toFixed(2)} test ${(100 * baseTest).toFixed(2)} (${data.info.splits.test} test examples)`,
);

// ── 1. one-shot state pruning ──
const FRACTIONS = Array.from({ length: 19 }, (_, k) => Math.round((k + 1) * 5) / 100);
const RANDOM_SEEDS = [0, 1, 2];
type Curve = { fraction: number; test_acc: number; drop_points: number }[];

async function oneShot(criterion: string, seed: number, layout: StateLayout): Promise<Curve> {
  const curve: Curve = [];
  for (const f of FRACTIONS) {
    const { model } = await loadCheckpoint(base);
    const r = chooseStateMasks(model, f, { criterion, seed, layout });
    r.masks.forEach((m, i) => model.setStateMask(i, m));
    const acc = evaluate(model, data.test).metric;
    model.dispose();
    curve.push({ fraction: f, test_acc: acc, drop_points: 100 * (baseTest - acc) });
    log(
      `one-shot ${layout} ${criterion}${criterion === 'random' ? ` seed ${seed}` : ''}: ${f} of states → test ${(100 * acc).toFixed(2)}`,
    );
    // Past 10 points lost the rest of the curve says nothing more.
    if (100 * (baseTest - acc) > 10) break;
  }
  return curve;
}

/** Largest fraction whose drop is ≤ 0.5 points, and the largest before the first one beyond it. */
function within(curve: Curve, limit = 0.5) {
  const ok = curve.filter((p) => p.drop_points <= limit + 1e-9);
  const first = curve.findIndex((p) => p.drop_points > limit + 1e-9);
  return {
    largest: ok.length ? Math.max(...ok.map((p) => p.fraction)) : 0,
    before_first_failure: first < 0 ? curve[curve.length - 1]!.fraction : first === 0 ? 0 : curve[first - 1]!.fraction,
  };
}

/** What the rectangular export costs at a mask: modes of active channels kept vs. the padded width. */
async function padding(criterion: string, fraction: number, layout: StateLayout) {
  const { model } = await loadCheckpoint(base);
  const r = chooseStateMasks(model, fraction, { criterion, layout });
  r.masks.forEach((m, i) => model.setStateMask(i, m));
  const x = exportModel(model, { mode: 'conv', length: data.info.length, variant: 'chunked' });
  const full = exportModel(baseModel, { mode: 'conv', length: data.info.length, variant: 'chunked' });
  const layers = JSON.parse(x.metadata.state_modes!) as { kept: number; width: number }[];
  const ssm = (e: typeof x) => (JSON.parse(e.metadata.declared_flops_by_section!) as Record<string, number>).ssm!;
  model.dispose();
  const kept = layers.reduce((s, l) => s + l.kept, 0);
  const padded = layers.reduce((s, l) => s + l.width * c.dModel, 0);
  return {
    criterion,
    layout,
    fraction,
    per_layer: layers,
    kept_modes: kept,
    padded_modes: padded,
    padding_fraction: 1 - kept / padded,
    ssm_flops_ratio: ssm(x) / ssm(full),
  };
}

// Per layout: 'free' is the papers' per-state threshold (channels keep different counts, the export pads each
// layer to its widest channel); 'balanced' is what the search's states axis uses by default.
const oneShotFile = path.join(ws, 'one-shot.json');
const oneShotResult: Record<string, unknown> = existsSync(oneShotFile)
  ? JSON.parse(readFileSync(oneShotFile, 'utf8'))
  : {};
if (!a['skip-one-shot']) {
  mkdirSync(ws, { recursive: true });
  for (const layout of ['free', 'balanced'] as const) {
    const key = layout === 'free' ? 'one_shot_states' : 'one_shot_states_balanced';
    if (oneShotResult[key]) continue;
    const last = await oneShot('last', 0, layout);
    const aire = await oneShot('aire', 0, layout);
    const randoms = [];
    for (const s of RANDOM_SEEDS) randoms.push(await oneShot('random', s, layout));
    const randomFractions = randoms.map((r) => within(r).largest);
    oneShotResult[key] = { last: within(last).largest, aire: within(aire).largest, random: median(randomFractions) };
    oneShotResult[`${key}_detail`] = {
      layout,
      limit_points: 0.5,
      last: { ...within(last), curve: last },
      aire: { ...within(aire), curve: aire },
      random: { seeds: RANDOM_SEEDS, largest_by_seed: randomFractions, curves: randoms },
    };
    oneShotResult[layout === 'free' ? 'state_padding' : 'state_padding_balanced'] = await padding(
      'last',
      within(last).largest,
      layout,
    );
    writeFileSync(oneShotFile, `${JSON.stringify(oneShotResult, null, 2)}\n`);
  }
}

// ── 2. latency by state rate, no fine-tune ──
let stateLatency: Record<string, unknown> | undefined;
const STATE_RATES = [20, 40, 50, 60, 70, 75, 80, 88, 90];
if (!a['skip-state-latency']) {
  const measurer = await AgentMeasurer.start({
    mode: 'conv',
    length: data.info.length,
    cacheDir: path.join(ws, 'agent-cache'),
    log: () => undefined,
  });
  try {
    const reference = measurer.prepare(baseModel, 'state-latency-base');
    const rows: Record<string, unknown>[] = [];
    for (const rate of STATE_RATES) {
      const { model } = await loadCheckpoint(base);
      chooseStateMasks(model, rate / 100, { criterion: 'last', layout: 'balanced' }).masks.forEach((m, i) =>
        model.setStateMask(i, m),
      );
      // The measured export's own metadata says which variant auto took and how wide the states are.
      const prepared = measurer.prepare(model, `state-latency-${rate}`);
      model.dispose();
      const meta = Object.fromEntries(decodeModel(prepared.bytes!).metadataProps.map((p) => [p.key!, p.value!]));
      const modes = (JSON.parse(meta.state_modes!) as { width: number }[]).map((l) => l.width);
      const variant = meta.variant!;
      const pair = await measurer.measurePair(reference, prepared, 0);
      rows.push({
        state_rate: rate,
        modes_per_channel: modes,
        variant,
        ratio: pair.ratio,
        ratio_low: pair.ratio_low,
        ratio_high: pair.ratio_high,
      });
      log(
        `states ${rate} %: ${modes.join('/')} modes per channel, ${variant}, ratio ${pair.ratio.toFixed(3)} to the base`,
      );
    }
    load.push(loadavg()[0]!);
    stateLatency = {
      state_latency: {
        note: 'no fine-tune: LAST balanced masks on the base, auto export, paired with the base on a local agent (onnxruntime-node, 1 thread)',
        rows,
      },
    };
  } finally {
    await measurer.close();
  }
}

// ── 3. searches ──
let searchResult: Record<string, unknown> | undefined;
if (!a['skip-search']) {
  mkdirSync(ws, { recursive: true });
  const store = RunStore.openWorkspace(ws);
  const measurer = await AgentMeasurer.start({
    mode: 'conv',
    length: data.info.length,
    cacheDir: path.join(ws, 'agent-cache'),
    log: () => undefined,
  });
  const importance = a.strategy === 'importance';
  const options = (axes: Axis[]): SearchOptions => ({
    strategy: importance ? 'importance' : 's4op',
    // Ours: Taylor scores with score-following allocation, one candidate per rate (README, Pruning).
    criteria: parseCriteria(importance ? 'taylor' : 'random'),
    allocation: importance ? 'scores' : 's4op',
    rates: [10, 30, 50, 70, 90],
    stateRates: [20, 40, 50, 60, 70, 80, 90],
    stateCriterion: 'last',
    seeds: importance ? 1 : Number(a.seeds),
    seed: 0,
    fineTune: {
      ...S4OP_FINETUNE,
      epochs: Number(a['finetune-epochs']),
      lr: Number(a.lr),
      lrSsm: Number(a.lr),
      patience: 0,
    },
    taylorBatches: importance ? 16 : 1,
    maxDrop: 1,
    axes,
  });
  // States and int8 alone do not depend on how operators are chosen: the importance strategy reruns the two
  // searches that do.
  const runs: Record<string, Axis[]> = importance
    ? { operators: ['operators'], joint: ['operators', 'states', 'int8'] }
    : { operators: ['operators'], states: ['states'], int8: ['int8'], joint: ['operators', 'states', 'int8'] };
  const prefix = importance ? 'importance-' : '';
  const out: Record<string, unknown> = {};
  const ratios: Record<string, number> = {};
  for (const [name, axes] of Object.entries(runs)) {
    const id = `axes-${prefix}${name}`;
    const o = options(axes);
    if (!store.getRun(id))
      store.createRun({ id, strategy: o.strategy, base_checkpoint: base, dataset: spec, config: o });
    const t = performance.now();
    const res = await runSearch(
      { store, runId: id, dir: path.join(ws, 'runs', id), baseCheckpoint: base, data, measurer, log, quiet: true },
      o,
    );
    load.push(loadavg()[0]!);
    const cands = store.candidates(id).filter((x) => x.status === 'finished');
    const ratioOf = (x: (typeof cands)[number]) =>
      x.step === 0 ? 1 : ((x.extra?.paired as { ratio?: number } | undefined)?.ratio ?? null);
    const f = res.final;
    ratios[name] = ratioOf(f)!;
    out[name] = {
      run: id,
      stop_reason: res.stop_reason,
      seconds_this_invocation: (performance.now() - t) / 1000,
      answer: {
        step: f.step,
        axis: f.axis,
        operators_pruned: f.operators_total ? 1 - f.operators_active! / f.operators_total : 0,
        state_rate: f.state_rate,
        precision: f.precision,
        ratio: ratioOf(f),
        val_drop_points: 100 * (res.base.val_metric! - f.val_metric!),
        test_drop_points: 100 * (res.base.test_metric! - f.test_metric!),
        test_acc: f.test_metric,
      },
      path: cands
        .filter((x) => x.chosen)
        .sort((p, q) => p.step - q.step)
        .map((x) => ({
          step: x.step,
          axis: x.step === 0 ? 'base' : x.axis,
          rate: x.rate,
          state_rate: x.state_rate,
          precision: x.precision,
          ratio: ratioOf(x),
          val_acc: x.val_metric,
          test_acc: x.test_metric,
        })),
      candidates: cands.length,
    };
    log(
      `${name}: answer ratio ${ratioOf(f)?.toFixed(3)} at ${(100 * (res.base.val_metric! - f.val_metric!)).toFixed(2)} val points`,
    );
    if (a['export-dir']) {
      mkdirSync(a['export-dir'], { recursive: true });
      const { model } = await loadCheckpoint(f.checkpoint!);
      const bytes = exportModel(model, { mode: 'conv', length: data.info.length, precision: f.precision }).bytes;
      writeFileSync(path.join(a['export-dir'], `${prefix}${name}.onnx`), bytes);
      model.dispose();
    }
  }
  if (a['export-dir'])
    writeFileSync(
      path.join(a['export-dir'], 'base.onnx'),
      exportModel(baseModel, { mode: 'conv', length: data.info.length }).bytes,
    );
  await measurer.close();
  store.close();
  const settings = {
    strategy: options(['operators']).strategy,
    criteria: options(['operators']).criteria,
    allocation: options(['operators']).allocation,
    fine_tune: options(['operators']).fineTune,
    seeds: options(['operators']).seeds,
    rates: options(['operators']).rates,
    state_rates: options(['states']).stateRates,
    state_layout: 'balanced',
    max_drop_val_points: 1,
    measured_on: 'local agent (onnxruntime-node, 1 thread), conv mode, auto variant; paired with the base',
  };
  searchResult = importance
    ? {
        at_1pt_ratio_importance: ratios,
        joint_over_operators_importance: ratios.joint! / ratios.operators!,
        searches_importance: out,
        search_settings_importance: settings,
      }
    : {
        at_1pt_ratio: ratios,
        joint_over_operators: ratios.joint! / ratios.operators!,
        target_joint_over_operators: 0.6,
        target_met: ratios.joint! / ratios.operators! <= 0.6,
        searches: out,
        search_settings: settings,
      };
}

// The emulated board's paired ratios of the answers (run.sh prints one "pair NAME {ratio, low, high, pairs}" each).
let board: Record<string, unknown> | undefined;
if (a['board-file']) {
  const ratios: Record<string, unknown> = {};
  for (const line of readFileSync(a['board-file'], 'utf8').split('\n')) {
    const m = /^pair (\S+) (\{.*\})$/.exec(line.trim());
    if (m) ratios[m[1]!] = JSON.parse(m[2]!);
  }
  if (!Object.keys(ratios).length) throw new Error(`${a['board-file']} has no "pair NAME {…}" lines`);
  board = {
    device: 'emulated aarch64 board (qemu-user, Cortex-A72 / Raspberry Pi 4 style; scripts/agent-arm64/run.sh)',
    runtime: 'onnxruntime-node, 1 thread; s4op bench A/B: the answer timed interleaved with base.onnx',
    note: 'emulated time: relative work of the arm64 code paths, not a real board’s timings',
    ratios,
  };
}

// Keys of the other strategy's searches (and the board's figures) stay as the last run wrote them.
const resultFile = path.join(RESULTS_DIR, 'axes.json');
const previous: Record<string, unknown> = existsSync(resultFile) ? JSON.parse(readFileSync(resultFile, 'utf8')) : {};
const file = writeResult('axes', {
  ...previous,
  base_test_acc: baseTest,
  base_val_acc: baseVal,
  model: { ssm: c.ssm, d_model: c.dModel, d_state: c.dState, layers: c.nLayers, length: data.info.length },
  data: data.info.splits,
  backend: backend.name,
  ...oneShotResult,
  ...(searchResult ?? {}),
  ...(stateLatency ?? {}),
  ...(board ? { board } : {}),
  // The load during the searches (what the figures were taken under); a board-only call keeps the last.
  ...(!searchResult
    ? {}
    : a.strategy === 'importance'
      ? { load_average_importance: { samples: load, median: median(load) } }
      : { load_average: { samples: load, median: median(load) } }),
});
log(`wrote ${file}`);
baseModel.dispose();
