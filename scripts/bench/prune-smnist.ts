/**
 * Benchmark (issue 7): a small S4D trained on sMNIST (14×14, L = 196, by default), pruned with `s4op`
 * (random choice, 5 seeds per rate) and with the importance strategy (fewer fine-tune epochs), every
 * candidate measured on a local agent (onnxruntime, conv mode); then one S4 model on the same data, pruned
 * with the importance strategy. Writes scripts/bench/results/prune-smnist.json: per strategy and rate the
 * chosen candidate's test accuracy, measured p50 latency, parameters, fine-tune epochs (chosen and over all
 * seeds), and base_acc; plus the issue's targets checked.
 *
 *   npx tsx scripts/bench/prune-smnist.ts [--workspace .s4op/bench-prune] [--d-model 32] [--layers 3]
 *     [--epochs 15] [--train 4000] [--random-ft-epochs 3] [--importance-ft-epochs 1,3] [--skip-s4]
 *
 * Resumable: the base checkpoints and the run store live in --workspace; a rerun continues where it stopped.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../../host/src/backend.js';
import { loadDataset, type Dataset } from '../../host/src/data/dataset.js';
import { loadCheckpoint, saveCheckpoint } from '../../host/src/model/checkpoint.js';
import { DEFAULT_CONFIG, type ModelConfig } from '../../host/src/model/config.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { AgentMeasurer } from '../../host/src/prune/agent-cost.js';
import { chooseBypass, importanceScores, normalizePerLayer, parseCriteria } from '../../host/src/prune/importance.js';
import { s4opAllocation, scoreAllocation, targetBypassed } from '../../host/src/prune/allocation.js';
import { applyOperators, withBypassed } from '../../host/src/prune/operators.js';
import { parseRates } from '../../host/src/prune/schedule.js';
import { S4OP_FINETUNE, runSearch, type SearchOptions } from '../../host/src/prune/search.js';
import { RunStore } from '../../host/src/store/run-store.js';
import { evaluate, train } from '../../host/src/train/trainer.js';
import { writeResult } from './common.js';

const { values: a } = parseArgs({
  options: {
    workspace: { type: 'string', default: '.s4op/bench-prune' },
    dataset: { type: 'string', default: 'smnist14' },
    'd-model': { type: 'string', default: '32' },
    'd-state': { type: 'string', default: '16' },
    layers: { type: 'string', default: '3' },
    epochs: { type: 'string', default: '15' },
    train: { type: 'string', default: '4000' },
    rates: { type: 'string', default: '10,30,50,70,90' },
    seeds: { type: 'string', default: '5' },
    'random-ft-epochs': { type: 'string', default: '3' },
    /** Several values (1,3): one importance run each; the last is the one the targets are checked on. */
    'importance-ft-epochs': { type: 'string', default: '1,3' },
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
log(`data ${data.info.name}: L ${data.info.length}, ${data.info.splits.train}/${data.info.splits.val}/${data.info.splits.test}`);

async function baseModel(ssm: 's4d' | 's4'): Promise<{ dir: string; test: number; val: number; epochs: number; seconds: number }> {
  const dir = path.join(ws, `base-${ssm}`);
  if (!existsSync(path.join(dir, 'config.json'))) {
    const config: ModelConfig = {
      ...DEFAULT_CONFIG, ssm, dModel: Number(a['d-model']), dState: Number(a['d-state']), nLayers: Number(a.layers), dropout: 0.1,
      inputKind: 'continuous', inputSize: data.info.inputSize, numClasses: data.info.numClasses, multiLabel: false,
    };
    const model = new SequenceModel(config, 0);
    log(`training base ${ssm}: d_model ${config.dModel}, d_state ${config.dState}, ${config.nLayers} layers, ${model.parameterCount()} parameters`);
    const record = train(model, data, { epochs: Number(a.epochs), batchSize: 32, lr: 4e-3, lrSsm: 1e-3, patience: 3, label: `base ${ssm}` });
    const test = evaluate(model, data.test);
    await saveCheckpoint(dir, model, { dataset: { name: data.info.name, spec: data.info.spec }, training: { ...record, test } });
    model.dispose();
  }
  const { model, config } = await loadCheckpoint(dir);
  const t = config.training as { epochs: unknown[]; seconds: number };
  const r = { dir, test: evaluate(model, data.test).metric, val: evaluate(model, data.val).metric, epochs: t.epochs.length, seconds: t.seconds };
  model.dispose();
  log(`base ${ssm}: val ${(100 * r.val).toFixed(2)} test ${(100 * r.test).toFixed(2)} (${r.epochs} epochs, ${r.seconds.toFixed(0)} s)`);
  return r;
}

const rates = parseRates(a.rates!);
const store = RunStore.openWorkspace(ws);
const measurer = await AgentMeasurer.start({ mode: 'conv', length: data.info.length, cacheDir: path.join(ws, 'agent-cache'), log: () => undefined });

async function prune(id: string, base: string, o: SearchOptions) {
  if (!store.getRun(id)) store.createRun({ id, strategy: o.strategy, base_checkpoint: base, dataset: data.info.spec, config: o });
  const t = performance.now();
  await runSearch({ store, runId: id, dir: path.join(ws, 'runs', id), baseCheckpoint: base, data, measurer, log, quiet: true }, o);
  const all = store.candidates(id).filter((c) => c.step > 0);
  const perRate = rates.map((rate, k) => {
    const step = all.filter((c) => c.step === k + 1);
    const c = step.find((x) => x.chosen)!;
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
  const b = store.candidates(id).find((c) => c.step === 0)!;
  const bm = store.measurementById(b.measurement_id!)!;
  return {
    run: id,
    criteria: o.criteria.map((c) => `${c.weight}*${c.criterion}`).join('+'),
    allocation: o.allocation,
    seeds: o.seeds,
    finetune_max_epochs: o.fineTune.epochs,
    base: { test_acc: b.test_metric!, val_acc: b.val_metric!, p50_ms: bm.p50_ms, params: b.params! },
    rates: perRate,
    total_finetune_epochs: all.reduce((n, c) => n + c.finetune_epochs!, 0),
    seconds_this_invocation: (performance.now() - t) / 1000,
  };
}

const common = { rates, seed: 0, taylorBatches: 8, allocation: a.allocation as 's4op' | 'scores' };
const ft = (epochs: number) => ({ ...S4OP_FINETUNE, epochs, patience: 1, batchSize: 32 });
type Pruned = Awaited<ReturnType<typeof prune>>;

/**
 * One-shot comparison of the criteria: the base model pruned straight to a rate, no fine-tuning, validation
 * accuracy; by the S4oP depth rule and by score-following allocation. Random: the mean over three seeds.
 */
async function oneShot(base: string) {
  const kinds = ['random', 'hinf', 'energy', 'hinf-delta', 'energy-delta', 'd', 'taylor', 'ablation'];
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
          const H = model.config.dModel;
          const active = model.activeOperators();
          const scores = importanceScores(model, parseCriteria(kind), { L: data.info.length, seed, data, taylorBatches: 8, batchSize: 32 });
          const target = targetBypassed(rate, H, model.config.nLayers);
          const counts = allocation === 's4op' ? s4opAllocation(H, model.config.nLayers, target) : scoreAllocation(normalizePerLayer(scores), active, H, target);
          applyOperators(model, withBypassed(active, chooseBypass(active, scores, counts, H)));
          acc += evaluate(model, data.val).metric / seeds.length;
          model.dispose();
        }
        row[kind] = acc;
      }
      out[allocation][String(rate)] = row;
      log(`one-shot ${allocation} ${rate}%: ${Object.entries(row).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}`).join(', ')}`);
    }
  }
  return out;
}

/** The issue's targets, as far as the runs so far allow. */
function targets(base: number, random: Pruned | null, importance: Pruned | null) {
  const at70 = (r: Pruned | null) => r?.rates.find((x) => x.rate === 70)?.test_acc ?? null;
  const best70 = Math.max(at70(random) ?? -1, at70(importance) ?? -1);
  return {
    best_drop_at_70_points: best70 >= 0 ? 100 * (base - best70) : null,
    best_drop_at_70_within_1_point: best70 >= 0 ? 100 * (base - best70) <= 1 : null,
    importance_ge_random_every_rate: random && importance ? random.rates.every((r, i) => importance.rates[i]!.test_acc >= r.test_acc) : null,
    importance_epoch_ratio: random && importance ? importance.total_finetune_epochs / random.total_finetune_epochs : null,
    importance_epochs_within_one_third: random && importance ? importance.total_finetune_epochs * 3 <= random.total_finetune_epochs : null,
  };
}

try {
  const s4d = await baseModel('s4d');
  let random: Pruned | null = null;
  let importance: Pruned | null = null;
  let s4: Record<string, unknown> | null = null;
  const importanceVariants: Pruned[] = [];
  const oneShotVal = await oneShot(s4d.dir);
  // Written after every run, so a long benchmark that is stopped still leaves what it measured.
  const save = (complete: boolean) => {
    const result = {
      complete,
      dataset: data.info.name,
      length: data.info.length,
      splits: data.info.splits,
      model: { ssm: 's4d', d_model: Number(a['d-model']), d_state: Number(a['d-state']), layers: Number(a.layers) },
      base_acc: s4d.test,
      base_val_acc: s4d.val,
      base_train_epochs: s4d.epochs,
      backend: choice.name,
      measured_on: 'local agent (onnxruntime, conv mode, default settings)',
      strategies: { s4op: random, importance },
      importance_variants: importanceVariants.map((v) => ({ run: v.run, finetune_max_epochs: v.finetune_max_epochs, total_finetune_epochs: v.total_finetune_epochs, test_acc: v.rates.map((r) => r.test_acc) })),
      s4,
      targets: targets(s4d.test, random, importance),
      one_shot_val_acc: oneShotVal,
    };
    log(`targets: ${JSON.stringify(result.targets)}`);
    log(`wrote ${writeResult('prune-smnist', result)}`);
  };
  // Runs with one fine-tune epoch carry no suffix (the first benchmark runs were named so).
  const tagOf = (ssm: string, epochs: number) => `importance-${ssm}-${a.criteria!.replace(/[^\w-]+/g, '_')}-${a.allocation}${epochs === 1 ? '' : `-ft${epochs}`}`;
  const impEpochs = a['importance-ft-epochs']!.split(',').map(Number);
  for (const e of impEpochs) {
    const r = await prune(tagOf('s4d', e), s4d.dir, { ...common, strategy: 'importance', criteria: parseCriteria(a.criteria!), seeds: 1, fineTune: ft(e) });
    importanceVariants.push(r);
    importance = r;
    save(false);
  }
  random = await prune('s4op-s4d', s4d.dir, { ...common, strategy: 's4op', criteria: parseCriteria('random'), allocation: 's4op', seeds: Number(a.seeds), fineTune: ft(Number(a['random-ft-epochs'])) });
  save(a['skip-s4']!);
  if (!a['skip-s4']) {
    const base = await baseModel('s4');
    const e = impEpochs[impEpochs.length - 1]!;
    s4 = { base_acc: base.test, ...(await prune(tagOf('s4', e), base.dir, { ...common, strategy: 'importance', criteria: parseCriteria(a.criteria!), seeds: 1, fineTune: ft(e) })) };
    save(true);
  }
} finally {
  await measurer.close();
  store.close();
}
