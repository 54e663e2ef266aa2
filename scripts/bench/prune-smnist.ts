/**
 * Benchmark (issue 7): a small S4D trained on sMNIST (14×14, L = 196, by default), pruned with `s4op`
 * (random choice, 5 seeds per rate) and with the importance strategy (fewer fine-tune epochs), every
 * candidate measured on a local agent (onnxruntime, conv mode); then one S4 model on the same data, pruned
 * with the importance strategy. Writes scripts/bench/results/prune-smnist.json: per strategy and rate the
 * chosen candidate's test accuracy, measured p50 latency, parameters, fine-tune epochs (chosen and over all
 * seeds), and base_acc; plus the issue's targets checked.
 *
 *   npx tsx scripts/bench/prune-smnist.ts [--workspace .s4op/bench-prune-h64] [--d-model 64] [--layers 4]
 *     [--epochs 40] [--base-minutes 18] [--lr 1e-2] [--train 4000] [--random-ft-epochs 2]
 *     [--importance-ft-epochs 3] [--importance-lr 4e-3] [--skip-random] [--skip-s4] [--s4-d-model 32]
 *     [--s4-base-minutes 8] [--taylor-batches 32] [--s4-importance-lr X] [--report-only]
 *
 * The s4op strategy fine-tunes as the paper does (S4OP_FINETUNE, lr 1e-4); the importance strategy is ours
 * and fine-tunes at --importance-lr. Resumable: the base checkpoints and the run store live in --workspace; a
 * rerun continues where it stopped (a base checkpoint whose shape differs from the flags is refused).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  AgentMeasurer,
  criterionNames,
  DEFAULT_CONFIG,
  evaluate,
  initBackend,
  loadCheckpoint,
  loadDataset,
  parseCriteria,
  parseRates,
  pruneStep,
  runSearch,
  RunStore,
  S4OP_FINETUNE,
  saveCheckpoint,
  SequenceModel,
  train,
  type Dataset,
  type ModelConfig,
  type SearchOptions,
} from '@s4op/host';
import { writeResult } from './common.js';

const { values: a } = parseArgs({
  options: {
    workspace: { type: 'string', default: '.s4op/bench-prune-h64' },
    dataset: { type: 'string', default: 'smnist14' },
    'd-model': { type: 'string', default: '64' },
    'd-state': { type: 'string', default: '16' },
    layers: { type: 'string', default: '4' },
    /** Base training: at most this many epochs, the cosine schedule fitted to --base-minutes of wall clock. */
    epochs: { type: 'string', default: '40' },
    'base-minutes': { type: 'string', default: '18' },
    lr: { type: 'string', default: '1e-2' },
    /** The S4 run's width and training time (smaller, so the benchmark fits its time). */
    's4-d-model': { type: 'string', default: '32' },
    's4-base-minutes': { type: 'string', default: '8' },
    train: { type: 'string', default: '4000' },
    rates: { type: 'string', default: '10,30,50,70,90' },
    seeds: { type: 'string', default: '5' },
    'random-ft-epochs': { type: 'string', default: '2' },
    /** Several values (1,3): one importance run each; the last is the one the targets are checked on. */
    'importance-ft-epochs': { type: 'string', default: '3' },
    'importance-lr': { type: 'string', default: '4e-3' },
    /** The S4 run's importance fine-tune lr (default: --importance-lr). */
    's4-importance-lr': { type: 'string' },
    'taylor-batches': { type: 'string', default: '32' },
    'skip-random': { type: 'boolean', default: false },
    /** Train and measure nothing: write the result file from the runs in the store (finished or not). */
    'report-only': { type: 'boolean', default: false },
    criteria: { type: 'string', default: 'taylor' },
    allocation: { type: 'string', default: 'scores' },
    'skip-s4': { type: 'boolean', default: false },
    backend: { type: 'string' },
  },
});
const ws = path.resolve(a.workspace!);
const choice = await initBackend(a.backend);
const log = (l: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${l}`);
log(`backend ${choice.name}; workspace ${ws}`);

const data: Dataset = await loadDataset(a.dataset!, { splits: { train: Number(a.train), val: 1000, test: 1000 } });
log(
  `data ${data.info.name}: L ${data.info.length}, ${data.info.splits.train}/${data.info.splits.val}/${data.info.splits.test}`,
);

/** Base training (as scripts/bench/accuracy-smnist.ts trains: lr 1e-2, SSM lr 1e-3, cosine fitted to a time budget). */
const baseTrain = (ssm: 's4d' | 's4') => ({
  epochs: Number(a.epochs),
  batchSize: 32,
  lr: Number(a.lr),
  lrSsm: 1e-3,
  weightDecay: 0.01,
  patience: 0,
  timeBudgetS: Number(a[ssm === 's4' ? 's4-base-minutes' : 'base-minutes']) * 60,
});
const widthOf = (ssm: 's4d' | 's4') => Number(ssm === 's4' ? a['s4-d-model'] : a['d-model']);

async function baseModel(
  ssm: 's4d' | 's4',
): Promise<{ dir: string; test: number; val: number; epochs: number; seconds: number }> {
  const dir = path.join(ws, `base-${ssm}`);
  const shape = { ssm, dModel: widthOf(ssm), dState: Number(a['d-state']), nLayers: Number(a.layers) };
  if (!existsSync(path.join(dir, 'config.json'))) {
    const config: ModelConfig = {
      ...DEFAULT_CONFIG,
      ...shape,
      dropout: 0.1,
      inputKind: 'continuous',
      inputSize: data.info.inputSize,
      numClasses: data.info.numClasses,
      multiLabel: false,
    };
    const model = new SequenceModel(config, 0);
    log(
      `training base ${ssm}: d_model ${config.dModel}, d_state ${config.dState}, ${config.nLayers} layers, ${model.parameterCount()} parameters`,
    );
    const record = train(model, data, { ...baseTrain(ssm), label: `base ${ssm}` });
    const test = evaluate(model, data.test);
    await saveCheckpoint(dir, model, {
      dataset: { name: data.info.name, spec: data.info.spec },
      training: { ...record, test },
    });
    model.dispose();
  }
  const { model, config } = await loadCheckpoint(dir);
  const m = model.config;
  if (m.ssm !== shape.ssm || m.dModel !== shape.dModel || m.dState !== shape.dState || m.nLayers !== shape.nLayers) {
    throw new Error(
      `${dir} holds a ${m.ssm} d_model ${m.dModel} d_state ${m.dState} ${m.nLayers}-layer model, not the ${JSON.stringify(shape)} asked for; use another --workspace`,
    );
  }
  const t = config.training as { epochs: unknown[]; seconds: number };
  const r = {
    dir,
    test: evaluate(model, data.test).metric,
    val: evaluate(model, data.val).metric,
    epochs: t.epochs.length,
    seconds: t.seconds,
  };
  model.dispose();
  log(
    `base ${ssm}: val ${(100 * r.val).toFixed(2)} test ${(100 * r.test).toFixed(2)} (${r.epochs} epochs, ${r.seconds.toFixed(0)} s)`,
  );
  return r;
}

const rates = parseRates(a.rates!);
const store = RunStore.openWorkspace(ws);
const measurer = await AgentMeasurer.start({
  mode: 'conv',
  length: data.info.length,
  cacheDir: path.join(ws, 'agent-cache'),
  log: () => undefined,
});

async function prune(id: string, base: string, o: SearchOptions) {
  if (!store.getRun(id))
    store.createRun({ id, strategy: o.strategy, base_checkpoint: base, dataset: data.info.spec, config: o });
  const t = performance.now();
  await runSearch(
    { store, runId: id, dir: path.join(ws, 'runs', id), baseCheckpoint: base, data, measurer, log, quiet: true },
    o,
  );
  return { ...summary(id), seconds_this_invocation: (performance.now() - t) / 1000 };
}

/**
 * A run as the result file reports it, from the store alone (its options are the run's config); a run stopped
 * part-way reports the rates it finished.
 */
function summary(id: string) {
  const run = store.getRun(id)!;
  const o = run.config as SearchOptions;
  const all = store.candidates(id).filter((c) => c.step > 0 && c.status === 'finished');
  const perRate = rates.flatMap((rate, k) => {
    const step = all.filter((c) => c.step === k + 1);
    const c = step.find((x) => x.chosen);
    if (!c) return [];
    const m = store.measurementById(c.measurement_id!)!;
    return {
      rate,
      pruned: 1 - c.operators_active! / c.operators_total!,
      test_acc: c.test_metric!,
      val_acc: c.val_metric!,
      p50_ms: m.p50_ms,
      p90_ms: m.p90_ms,
      rss_mb: m.rss_mb,
      params: c.params!,
      finetune_epochs: c.finetune_epochs!,
      finetune_epochs_all_seeds: step.reduce((n, x) => n + x.finetune_epochs!, 0),
      seed: c.seed,
    };
  });
  const done = new Set(perRate.map((r) => r.rate));
  const b = store.candidates(id).find((c) => c.step === 0)!;
  const bm = store.measurementById(b.measurement_id!)!;
  return {
    run: id,
    status: run.status,
    criteria: o.criteria.map((c) => `${c.weight}*${c.criterion}`).join('+'),
    allocation: o.allocation,
    seeds: o.seeds,
    finetune_max_epochs: o.fineTune.epochs,
    finetune_lr: o.fineTune.lr,
    taylor_batches: o.taylorBatches,
    base: { test_acc: b.test_metric!, val_acc: b.val_metric!, p50_ms: bm.p50_ms, params: b.params! },
    rates: perRate,
    // Over the finished rates only, so a stopped run compares like with like.
    total_finetune_epochs: all.filter((c) => done.has(c.rate!)).reduce((n, c) => n + c.finetune_epochs!, 0),
  };
}

const impEpochs = a['importance-ft-epochs']!.split(',').map(Number);
const taylorBatches = Number(a['taylor-batches']);
const common = { rates, seed: 0, taylorBatches, allocation: a.allocation as 's4op' | 'scores' };
/** The paper's fine-tuning (s4op); the importance strategy at its own learning rate (SSM parameters too). */
const ft = (epochs: number) => ({ ...S4OP_FINETUNE, epochs, patience: 1, batchSize: 32 });
const importanceLr = Number(a['importance-lr']);
const s4ImportanceLr = Number(a['s4-importance-lr'] ?? importanceLr);
const ftImportance = (epochs: number, lr = importanceLr) => ({ ...ft(epochs), lr, lrSsm: lr });
type Pruned = Awaited<ReturnType<typeof prune>>;

/**
 * One-shot comparison of the criteria: the base model pruned straight to a rate, no fine-tuning, validation
 * accuracy; by the S4oP depth rule and by score-following allocation. Random: the mean over three seeds.
 */
async function oneShot(base: string) {
  // Kept in the workspace: the base does not change, so a resumed benchmark does not redo it.
  const file = path.join(ws, 'one-shot.json');
  if (existsSync(file))
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, Record<string, number>>>;
  // Ablation (one evaluation per channel) is left out: at d_model 64 it alone would take most of an hour.
  const kinds = criterionNames().filter((k) => k !== 'ablation');
  const out: Record<string, Record<string, Record<string, number>>> = {};
  for (const allocation of ['s4op', 'scores'] as const) {
    out[allocation] = {};
    for (const rate of [30, 50]) {
      const row: Record<string, number> = {};
      for (const kind of kinds) {
        if (kind === 'random' && allocation === 'scores') continue;
        const seeds = kind === 'random' ? [1, 2, 3] : [0];
        let acc = 0;
        for (const seed of seeds) {
          const { model } = await loadCheckpoint(base);
          pruneStep(model, {
            rate,
            criteria: parseCriteria(kind),
            allocation,
            ctx: { L: data.info.length, seed, data, taylorBatches: 8, batchSize: 32 },
          });
          acc += evaluate(model, data.val).metric / seeds.length;
          model.dispose();
        }
        row[kind] = acc;
      }
      out[allocation][String(rate)] = row;
      log(
        `one-shot ${allocation} ${rate}%: ${Object.entries(row)
          .map(([k, v]) => `${k} ${(100 * v).toFixed(1)}`)
          .join(', ')}`,
      );
    }
  }
  writeFileSync(file, JSON.stringify(out, null, 2));
  return out;
}

/** The issue's targets, as far as the runs so far allow. */
function targets(base: number, random: Pruned | null, importance: Pruned | null) {
  const at70 = (r: Pruned | null) => r?.rates.find((x) => x.rate === 70)?.test_acc ?? null;
  const best70 = Math.max(at70(random) ?? -1, at70(importance) ?? -1);
  // The rates both runs finished (all of them unless the random run was stopped part-way).
  const both = random && importance ? random.rates.filter((r) => importance.rates.some((x) => x.rate === r.rate)) : [];
  const epochsAt = (p: Pruned) =>
    p.rates.filter((r) => both.some((b) => b.rate === r.rate)).reduce((n, r) => n + r.finetune_epochs_all_seeds, 0);
  const cmp = random && importance && both.length > 0;
  return {
    compared_rates: both.map((r) => r.rate),
    best_drop_at_70_points: best70 >= 0 ? 100 * (base - best70) : null,
    best_drop_at_70_within_1_point: best70 >= 0 ? 100 * (base - best70) <= 1 : null,
    importance_ge_random_every_rate: cmp
      ? both.every((r) => importance.rates.find((x) => x.rate === r.rate)!.test_acc >= r.test_acc)
      : null,
    importance_epoch_ratio: cmp ? epochsAt(importance) / epochsAt(random) : null,
    importance_epochs_within_one_third: cmp ? epochsAt(importance) * 3 <= epochsAt(random) : null,
  };
}

try {
  const s4d = await baseModel('s4d');
  let random: Pruned | null = null;
  let importance: Pruned | null = null;
  let s4: Record<string, unknown> | null = null;
  let oneShotVal: Awaited<ReturnType<typeof oneShot>> | null = null;
  // Every finished importance run on this base, this invocation's and earlier ones (other flags).
  const importanceVariants = () =>
    store
      .listRuns()
      .filter((r) => r.id.startsWith('importance-s4d-') && r.status === 'finished')
      .reverse()
      .map((r) => summary(r.id));
  // Written after every run, so a long benchmark that is stopped still leaves what it measured.
  const save = (complete: boolean) => {
    const result = {
      complete,
      dataset: data.info.name,
      length: data.info.length,
      splits: data.info.splits,
      model: { ssm: 's4d', d_model: widthOf('s4d'), d_state: Number(a['d-state']), layers: Number(a.layers) },
      base_acc: s4d.test,
      base_val_acc: s4d.val,
      base_train_epochs: s4d.epochs,
      base_train_seconds: s4d.seconds,
      configs: {
        base_training: baseTrain('s4d'),
        s4_base_training: baseTrain('s4'),
        finetune_s4op: ft(Number(a['random-ft-epochs'])),
        finetune_importance: ftImportance(impEpochs[impEpochs.length - 1]!),
        finetune_importance_s4: ftImportance(impEpochs[impEpochs.length - 1]!, s4ImportanceLr),
        taylor_batches: taylorBatches,
        s4_d_model: widthOf('s4'),
      },
      backend: choice.name,
      measured_on: 'local agent (onnxruntime, conv mode, default settings)',
      strategies: { s4op: random, importance },
      importance_variants: importanceVariants().map((v) => ({
        run: v.run,
        criteria: v.criteria,
        finetune_max_epochs: v.finetune_max_epochs,
        finetune_lr: v.finetune_lr,
        taylor_batches: v.taylor_batches,
        total_finetune_epochs: v.total_finetune_epochs,
        val_acc: v.rates.map((r) => r.val_acc),
        test_acc: v.rates.map((r) => r.test_acc),
      })),
      s4,
      targets: targets(s4d.test, random, importance),
      one_shot_val_acc: oneShotVal,
    };
    log(`targets: ${JSON.stringify(result.targets)}`);
    log(`wrote ${writeResult('prune-smnist', result)}`);
  };
  // Every setting that changes the run is in its id, so a rerun with other flags starts a new run.
  const tagOf = (ssm: string, epochs: number, lr: number) =>
    `importance-${ssm}-${a.criteria!.replace(/[^\w-]+/g, '_')}-${a.allocation}-ft${epochs}${lr === S4OP_FINETUNE.lr ? '' : `-lr${lr}`}${taylorBatches === 8 ? '' : `-tb${taylorBatches}`}`;
  const pruneOr = (id: string, base: string, o: SearchOptions) =>
    a['report-only']
      ? Promise.resolve(store.getRun(id) ? { ...summary(id), seconds_this_invocation: 0 } : null)
      : prune(id, base, o);
  const importanceRun = (ssm: 's4d' | 's4', dir: string, e: number) => {
    const lr = ssm === 's4' ? s4ImportanceLr : importanceLr;
    return pruneOr(tagOf(ssm, e, lr), dir, {
      ...common,
      strategy: 'importance',
      criteria: parseCriteria(a.criteria!),
      seeds: 1,
      fineTune: ftImportance(e, lr),
    });
  };
  for (const e of impEpochs) {
    importance = await importanceRun('s4d', s4d.dir, e);
    save(false);
  }
  if (!a['report-only'] || existsSync(path.join(ws, 'one-shot.json'))) oneShotVal = await oneShot(s4d.dir);
  if (!a['skip-random']) {
    random = await pruneOr('s4op-s4d', s4d.dir, {
      ...common,
      strategy: 's4op',
      criteria: parseCriteria('random'),
      allocation: 's4op',
      seeds: Number(a.seeds),
      fineTune: ft(Number(a['random-ft-epochs'])),
    });
  }
  const randomDone = random?.status === 'finished';
  save(randomDone && a['skip-s4']!);
  if (!a['skip-s4'] && (!a['report-only'] || existsSync(path.join(ws, 'base-s4', 'config.json')))) {
    const base = await baseModel('s4');
    const run = await importanceRun('s4', base.dir, impEpochs[impEpochs.length - 1]!);
    if (run) s4 = { base_acc: base.test, d_model: widthOf('s4'), ...run };
    save(randomDone && run?.status === 'finished');
  }
} finally {
  await measurer.close();
  store.close();
}
