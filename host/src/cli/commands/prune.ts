import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { describeBackend, initBackend } from '../../backend.js';
import { log, UserError } from '../util.js';
import { oneOf, parseCount as int, parseNumber as num, addDatasetOptions, datasetOptionsFromFlags, type DatasetFlags } from '../options.js';
import { loadDataset, reloadDataset, type Dataset, type DatasetOptions } from '../../data/dataset.js';
import { readCheckpointConfig } from '../../model/checkpoint.js';
import { deviceClassOf } from '../../export/tuned.js';
import { AgentMeasurer } from '../../prune/agent-cost.js';
import { tuneForRun } from '../../prune/tune-run.js';
import { FlopEstimate, type CostMeasurer } from '../../prune/cost.js';
import { criterionNames, parseCriteria } from '../../prune/criteria/index.js';
import { candidateRows, toCsv, type CandidateRow } from '../../prune/report.js';
import { parseBudget } from '../../prune/paired.js';
import { parseRates, DEFAULT_RATES } from '../../prune/schedule.js';
import { defaultFineTune, IMPORTANCE_FINETUNE, runSearch, S4OP_FINETUNE, STRATEGIES, type SearchOptions, type Strategy } from '../../prune/search.js';
import { RunStore, type RunRecord } from '../../store/run-store.js';
import { printRun } from '../print.js';

interface PruneFlags extends Omit<DatasetFlags, 'json' | 'seed'> {
  checkpoint?: string;
  dataset?: string;
  resume?: string;
  runId?: string;
  workspace: string;
  strategy: Strategy;
  criteria?: string;
  allocation?: 's4op' | 'scores';
  rates?: string;
  seeds?: number;
  operators: string;
  budgetMs?: number;
  budget?: string;
  steer?: boolean;
  profile?: boolean;
  maxDrop?: number;
  agent?: string;
  tag?: string;
  classQuantile?: number;
  server?: string;
  token?: string;
  port?: number;
  bind: string;
  mode: 'conv' | 'step';
  variant?: string;
  tune?: boolean;
  settings?: string;
  estimate?: boolean;
  finetuneEpochs?: number;
  patience?: number;
  lr?: number;
  batchSize?: number;
  maxSteps?: number;
  taylorBatches: number;
  seed: number;
  backend?: string;
  json?: boolean;
  csv?: string;
}

/** What a run needs to be resumed: stored in runs.config. */
export interface PruneRunConfig {
  search: SearchOptions;
  dataset: { source: string | null; options: DatasetOptions; spec?: Record<string, unknown> };
  measure: {
    estimate: boolean;
    mode: 'conv' | 'step';
    variant?: string;
    /** Tune the export of the measured device class first (once per class and model shape). */
    tune?: boolean;
    settings: unknown;
    agent?: string;
    tag?: string;
    classQuantile?: number;
    /** A running server's URL (its token is never stored). */
    server?: string;
    port?: number;
    bind?: string;
  };
  argv: string[];
}

export function register(program: Command): void {
  const cmd = program
    .command('prune')
    .description('prune operators incrementally (fine-tune, keep the best by validation, measure on an agent) and record the run')
    .option('--checkpoint <dir>', 'trained checkpoint to prune')
    .option('--dataset <name|path>', 'data for fine-tuning and evaluation (default: the checkpoint\'s own dataset spec)')
    .option('--resume <run>', 'continue a run of this workspace where it stopped (finished candidates are kept)')
    .option('--workspace <dir>', 'run store (runs.sqlite), candidate checkpoints and the local agent\'s cache', '.s4op')
    .option('--run-id <id>', 'id of the new run (default: run-<8 hex>)')
    .option('--strategy <name>', `${STRATEGIES.join(' or ')}: random choice under several seeds (the paper), or importance criteria`, oneOf(...STRATEGIES), 's4op')
    .option('--criteria <list>', `importance: ${criterionNames().join(', ')}, combined with + and weights, e.g. 2*taylor+hinf-delta (default taylor)`)
    .option('--allocation <rule>', 's4op (the depth rule, 2^i over layers 1…n−1) or scores (global ranking of per-layer-normalised scores); default s4op for --strategy s4op, scores for importance', oneOf('s4op', 'scores'))
    .option('--rates <list>', `percent of operators bypassed per step (default ${DEFAULT_RATES.join(',')})`)
    .option('--seeds <n>', 'candidates per rate (default 5 for s4op, 1 for importance)', int)
    .option('--operators <kind>', 'what to prune: channels (states: not yet)', 'channels')
    .option('--budget <ratio>', 'stop once the chosen candidate\'s paired latency ratio to the base is at or below this, e.g. 0.6x or 60%')
    .option('--budget-ms <x>', 'the same in milliseconds, converted to a ratio through the base\'s p50 pooled over the run\'s jobs on that agent (stated in the output)', num)
    .option('--steer', 'with a budget: prune only to the least rate a cost model fitted to the measured ratios says meets it')
    .option('--profile', 'profile every candidate on the agent (where the time goes: per section and node type); the base and the answer are profiled always')
    .option('--max-drop <points>', 'stop once the validation metric drops more than this many points below the base', num)
    .option('--agent <name>', 'measure on this agent (it dials the embedded server, or use --server)')
    .option('--tag <tag>', 'measure on any agent with this tag; a,b: on one agent of every device class')
    .option('--class-quantile <q>', 'several tags: combine the classes\' latencies at this quantile (default 1: the worst class)', num)
    .option('--server <url>', 'a running `s4op serve` to send jobs through (token from --token or S4OP_TOKEN)')
    .option('--token <t>', 'token of --server or of the embedded server')
    .option('--port <n>', 'port of the embedded server, for remote agents to dial (default: any free port)', int)
    .option('--bind <address>', 'interface of the embedded server', '127.0.0.1')
    .option('--mode <mode>', 'export mode measured: conv or step', oneOf('conv', 'step'), 'conv')
    .option('--variant <name>', 'export variant (default auto: the device class\'s tuned choice, else the static one)')
    .option('--tune', 'first tune the export on the measuring agent\'s device class, once per class (see s4op export --tune)')
    .option('--settings <json>', 'measurement settings as JSON (see s4op bench --help)')
    .option('--estimate', 'no agent: estimate latency from an operation count (labelled as an estimate)')
    .option('--finetune-epochs <n>', `fine-tuning epochs per candidate (default ${S4OP_FINETUNE.epochs})`, int)
    .option('--patience <n>', `early-stopping patience (default ${S4OP_FINETUNE.patience})`, int)
    .option('--lr <x>', `fine-tuning learning rate, SSM parameters too (default ${S4OP_FINETUNE.lr} for s4op as the paper, ${IMPORTANCE_FINETUNE.lr} for importance)`, num)
    .option('--batch-size <n>', 'fine-tuning batch size (default 32)', int)
    .option('--max-steps <n>', 'cap on optimizer steps per fine-tune', int)
    .option('--taylor-batches <n>', 'training batches for the taylor criterion', int, 4)
    .option('--seed <n>', 'base seed of the choices and fine-tuning', int, 0)
    .option('--backend <name>', 'force a tfjs backend (tensorflow, wasm, cpu)')
    .option('--json', 'print the result as JSON')
    .option('--csv <file>', 'write every candidate as CSV');
  addDatasetOptions(cmd).action(async (flags: PruneFlags) => {
    const choice = await initBackend(flags.backend);
    log(describeBackend(choice));
    const store = RunStore.openWorkspace(flags.workspace);
    let measurer: CostMeasurer | undefined;
    try {
      const { run, config, fresh } = flags.resume ? resumeRun(store, flags) : await newRun(store, flags);
      if (!fresh && (run.status === 'finished' || run.status === 'stopped')) {
        log(`run ${run.id} is already ${run.status} (${run.stop_reason ?? ''}); nothing to do`);
      } else {
        log(`${fresh ? 'run' : 'resuming run'} ${run.id}: ${config.search.strategy}, rates ${config.search.rates.join(',')}%, ${config.search.seeds} seed(s) per rate; store ${store.file}`);
        const data = await datasetOf(config, run);
        log(`data ${data.info.name}: L ${data.info.length}, ${data.info.splits.train}/${data.info.splits.val}/${data.info.splits.test}`);
        measurer = await measurerOf(config, flags, data.info.length, path.resolve(flags.workspace, 'agent-cache'), run, store);
        log(measurer.kind === 'estimate' ? 'cost: FLOP-count estimate (no agent; not a measurement)' : `cost: measured on ${measurer.agent}, ${config.measure.mode} mode`);
        if (!fresh) store.updateRun(run.id, { status: 'running', stop_reason: null });
        try {
          if (measurer instanceof AgentMeasurer && (config.measure.variant ?? 'auto') === 'auto') {
            const m = measurer;
            await userCheckAsync(() => tuneForRun({ store, runId: run.id, baseCheckpoint: run.base_checkpoint, measurer: m, mode: config.measure.mode, length: data.info.length, tune: Boolean(config.measure.tune), log }));
          }
          await runSearch(
            { store, runId: run.id, dir: path.join(flags.workspace, 'runs', run.id), baseCheckpoint: run.base_checkpoint, data, measurer, log, quiet: flags.json },
            config.search,
          );
        } catch (err) {
          store.updateRun(run.id, { status: 'failed', stop_reason: `error: ${(err as Error).message}` });
          throw err;
        }
      }
      const rows = candidateRows(store, run.id);
      if (flags.csv) {
        await writeCsv(flags.csv, rows);
        store.addArtifact({ run_id: run.id, kind: 'csv', path: path.resolve(flags.csv) });
      }
      printRun(flags, store.getRun(run.id)!, rows);
    } finally {
      await measurer?.close();
      store.close();
    }
  });
}

async function newRun(store: RunStore, f: PruneFlags): Promise<{ run: RunRecord; config: PruneRunConfig; fresh: boolean }> {
  if (!f.checkpoint) throw new UserError('give --checkpoint DIR (or --resume RUN)');
  if (f.operators !== 'channels') throw new UserError(`--operators ${f.operators}: only channels can be pruned so far`);
  if (f.agent && f.tag) throw new UserError('give --agent or --tag, not both');
  if (f.estimate && (f.agent || f.tag || f.server)) throw new UserError('--estimate measures nothing: drop --agent/--tag/--server');
  if (f.estimate && f.budgetMs !== undefined) throw new UserError('--budget-ms needs measured latency: drop --estimate (or give a ratio with --budget)');
  if (f.budget !== undefined && f.budgetMs !== undefined) throw new UserError('give one budget: --budget (a ratio to the base) or --budget-ms, not both');
  if (f.steer && f.budgetMs === undefined && f.budget === undefined) throw new UserError('--steer needs a budget: --budget 0.6x or --budget-ms X');
  let budgetRatio: number | undefined;
  if (f.budget !== undefined) {
    try {
      budgetRatio = parseBudget(f.budget).ratio;
    } catch (err) {
      throw new UserError(`--budget: ${(err as Error).message}`);
    }
  }
  if (f.tune && f.estimate) throw new UserError('--tune measures exports on an agent: drop --estimate');
  if (f.tune && f.variant && f.variant !== 'auto') throw new UserError(`--tune chooses the variant: drop --variant ${f.variant}`);
  if (f.tune && f.tag?.includes(',')) throw new UserError('--tune tunes one device class at a time: give one --tag (or --agent)');
  let ck;
  try {
    ck = await readCheckpointConfig(f.checkpoint);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  const importance = f.strategy === 'importance';
  let criteria;
  try {
    criteria = parseCriteria(f.criteria ?? (importance ? 'taylor' : 'random'));
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  if (!importance && f.criteria && f.criteria !== 'random') throw new UserError('--criteria is for --strategy importance (s4op chooses at random)');
  let rates: number[];
  try {
    rates = f.rates ? parseRates(f.rates) : [...DEFAULT_RATES];
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  const { seed: _s, ...dataFlags } = datasetOptionsFromFlags(f);
  const dataset: PruneRunConfig['dataset'] = f.dataset
    ? { source: f.dataset, options: { seed: (ck.dataset?.spec as { seed?: number } | undefined)?.seed ?? 0, ...dataFlags } }
    : { source: null, options: {}, spec: ck.dataset?.spec as Record<string, unknown> | undefined };
  if (!f.dataset && !dataset.spec) throw new UserError(`checkpoint ${f.checkpoint} records no dataset spec: give --dataset`);
  const search: SearchOptions = {
    strategy: f.strategy,
    criteria,
    allocation: f.allocation ?? (importance ? 'scores' : 's4op'),
    rates,
    seeds: f.seeds ?? (importance ? 1 : 5),
    seed: f.seed,
    fineTune: {
      ...defaultFineTune(f.strategy),
      ...Object.fromEntries(
        Object.entries({ epochs: f.finetuneEpochs, patience: f.patience, lr: f.lr, lrSsm: f.lr, batchSize: f.batchSize, maxSteps: f.maxSteps }).filter(([, v]) => v !== undefined),
      ),
    },
    taylorBatches: f.taylorBatches,
    maxDrop: f.maxDrop,
    budgetMs: f.budgetMs,
    budgetRatio,
    steer: f.steer,
    profileAll: f.profile,
  };
  let settings: unknown = {};
  if (f.settings) {
    try {
      settings = JSON.parse(f.settings);
    } catch (err) {
      throw new UserError(`--settings is not JSON: ${(err as Error).message}`);
    }
  }
  const config: PruneRunConfig = {
    search,
    dataset,
    measure: { estimate: Boolean(f.estimate), mode: f.mode, variant: f.variant, tune: f.tune, settings, agent: f.agent, tag: f.tag, classQuantile: f.classQuantile, server: f.server, port: f.port, bind: f.bind },
    argv: process.argv.slice(2),
  };
  try {
    const run = store.createRun({ id: f.runId, strategy: f.strategy, base_checkpoint: path.resolve(f.checkpoint), dataset, config });
    return { run, config, fresh: true };
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

function resumeRun(store: RunStore, f: PruneFlags): { run: RunRecord; config: PruneRunConfig; fresh: boolean } {
  if (f.checkpoint) throw new UserError('--resume continues a recorded run: drop --checkpoint (its settings come from the store)');
  const run = store.getRun(f.resume!);
  if (!run) {
    const known = store.listRuns().map((r) => r.id);
    throw new UserError(`no run ${f.resume} in ${store.file}${known.length ? ` (runs: ${known.join(', ')})` : ' (it has no runs)'}`);
  }
  return { run, config: run.config as PruneRunConfig, fresh: false };
}

async function datasetOf(config: PruneRunConfig, run: RunRecord): Promise<Dataset> {
  const d = config.dataset;
  try {
    return d.source ? await loadDataset(d.source, d.options) : await reloadDataset(d.spec!);
  } catch (err) {
    throw new UserError(`run ${run.id}: cannot load its dataset: ${(err as Error).message}`);
  }
}

async function measurerOf(config: PruneRunConfig, f: PruneFlags, L: number, cacheDir: string, run: RunRecord, store: RunStore): Promise<CostMeasurer> {
  const m = config.measure;
  if (m.estimate) return new FlopEstimate({ mode: m.mode, length: L });
  const token = f.token ?? process.env.S4OP_TOKEN;
  if (m.server && !token) throw new UserError('--server needs its token: --token T or S4OP_TOKEN');
  try {
    return await AgentMeasurer.start({
      mode: m.mode,
      length: L,
      variant: m.variant,
      settings: m.settings,
      agent: m.agent,
      tag: m.tag,
      classQuantile: m.classQuantile,
      server: m.server ? { url: m.server, token: token! } : undefined,
      port: m.port,
      bind: m.bind,
      token,
      cacheDir,
      source: { checkpoint: run.base_checkpoint },
      log,
      quiet: f.json,
      // One device class: `auto` exports follow its tuning, if the store has one.
      tuning: m.tag?.includes(',') ? undefined : { store, deviceClass: deviceClassOf({ agent: m.agent, tag: m.tag }) },
    });
  } catch (err) {
    throw new UserError(`cannot start measuring: ${(err as Error).message}`);
  }
}

async function userCheckAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

async function writeCsv(file: string, rows: CandidateRow[]): Promise<void> {
  try {
    await writeFile(file, toCsv(rows));
  } catch (err) {
    throw new UserError(`cannot write --csv ${file}: ${(err as Error).message}`);
  }
  log(`wrote ${rows.length} candidates to ${file}`);
}

