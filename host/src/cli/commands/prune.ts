import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { describeBackend, initBackend } from '../../backend.js';
import { log, userCheck, userCheckAsync, UserError } from '../util.js';
import {
  oneOf,
  parseCount as int,
  parseNumber as num,
  addAgentTargetOptions,
  addDatasetOptions,
  agentTarget,
  datasetOptionsFromFlags,
  type AgentTargetFlags,
  type DatasetFlags,
} from '../options.js';
import { readCheckpointConfig } from '../../model/checkpoint.js';
import { AgentMeasurer } from '../../prune/cost/agent.js';
import { tuneForRun } from '../../prune/tune-run.js';
import type { CostMeasurer } from '../../prune/cost/cost.js';
import { criterionNames, parseCriteria } from '../../prune/criteria/index.js';
import { candidateRows, toCsv, type CandidateRow } from '../../prune/report.js';
import { parseBudget } from '../../prune/paired.js';
import { parseRates, DEFAULT_RATES } from '../../prune/schedule.js';
import { DEFAULT_STATE_RATES, parseAxes } from '../../prune/axes.js';
import { stateCriterion, stateCriterionNames } from '../../prune/states/registry.js';
import { STATE_LAYOUTS, type StateLayout } from '../../prune/states/threshold.js';
import { IMPORTANCE_FINETUNE, runSearch, S4OP_FINETUNE, STRATEGIES, type Strategy } from '../../prune/search.js';
import {
  createPruneRun,
  loadRunData,
  recordedRun,
  runDataset,
  runMeasurer,
  searchOptionsFor,
  type PruneRunConfig,
} from '../../prune/run-config.js';
import { RunStore, type RunRecord } from '../../store/run-store.js';
import type { QueueFineTuner } from '../../queue/client.js';
import { printRun } from '../print.js';

interface PruneFlags extends Omit<DatasetFlags, 'json' | 'seed'>, AgentTargetFlags {
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
  axes: string;
  stateRates?: string;
  stateCriterion?: string;
  stateLayout?: StateLayout;
  budgetMs?: number;
  budget?: string;
  steer?: boolean;
  profile?: boolean;
  maxDrop?: number;
  classQuantile?: number;
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
  queue?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('prune')
    .description(
      'prune operators incrementally (fine-tune, keep the best by validation, measure on an agent) and record the run',
    )
    .option('--checkpoint <dir>', 'trained checkpoint to prune')
    .option('--dataset <name|path>', "data for fine-tuning and evaluation (default: the checkpoint's own dataset spec)")
    .option('--resume <run>', 'continue a run of this workspace where it stopped (finished candidates are kept)')
    .option('--workspace <dir>', "run store (runs.sqlite), candidate checkpoints and the local agent's cache", '.s4op')
    .option('--run-id <id>', 'id of the new run (default: run-<8 hex>)')
    .option(
      '--strategy <name>',
      `${STRATEGIES.join(' or ')}: random choice under several seeds (the paper), or importance criteria`,
      oneOf(...STRATEGIES),
      's4op',
    )
    .option(
      '--criteria <list>',
      `importance: ${criterionNames().join(', ')}, combined with + and weights, e.g. 2*taylor+hinf-delta (default taylor)`,
    )
    .option(
      '--allocation <rule>',
      's4op (the depth rule, 2^i over layers 1…n−1) or scores (global ranking of per-layer-normalised scores); default s4op for --strategy s4op, scores for importance',
      oneOf('s4op', 'scores'),
    )
    .option('--rates <list>', `percent of operators bypassed per step (default ${DEFAULT_RATES.join(',')})`)
    .option('--seeds <n>', 'candidates per rate (default 5 for s4op, 1 for importance)', int)
    .option(
      '--axes <list>',
      'what the steps may move along: operators, states (S4D modes), int8, or several (e.g. operators,states,int8): each step then tries every axis and takes the one that buys the most measured latency per validation point lost',
      'operators',
    )
    .option(
      '--state-rates <list>',
      `states axis: percent of states pruned per step (default ${DEFAULT_STATE_RATES.join(',')})`,
    )
    .option('--state-criterion <name>', `states axis: ${stateCriterionNames().join(', ')} (default last)`)
    .option(
      '--state-layout <kind>',
      'states axis: balanced (every channel of a layer keeps the same count: nothing padded in the export) or free (the threshold as is)',
      oneOf(...STATE_LAYOUTS),
    )
    .option(
      '--budget <ratio>',
      "stop once the chosen candidate's paired latency ratio to the base is at or below this, e.g. 0.6x or 60%",
    )
    .option(
      '--budget-ms <x>',
      "the same in milliseconds, converted to a ratio through the base's p50 pooled over the run's jobs on that agent (stated in the output)",
      num,
    )
    .option(
      '--steer',
      'with a budget: prune only to the least rate a cost model fitted to the measured ratios says meets it',
    )
    .option(
      '--profile',
      'profile every candidate on the agent (where the time goes: per section and node type); the base and the answer are profiled always',
    )
    .option(
      '--max-drop <points>',
      'stop once the validation metric drops more than this many points below the base',
      num,
    )
    .option(
      '--class-quantile <q>',
      "several tags: combine the classes' latencies at this quantile (default 1: the worst class)",
      num,
    )
    .option('--mode <mode>', 'export mode measured: conv or step', oneOf('conv', 'step'), 'conv')
    .option('--variant <name>', "export variant (default auto: the device class's tuned choice, else the static one)")
    .option(
      '--tune',
      "first tune the export on the measuring agent's device class, once per class (see s4op export --tune)",
    )
    .option('--settings <json>', 'measurement settings as JSON (see s4op bench --help)')
    .option('--estimate', 'no agent: estimate latency from an operation count (labelled as an estimate)')
    .option('--finetune-epochs <n>', `fine-tuning epochs per candidate (default ${S4OP_FINETUNE.epochs})`, int)
    .option('--patience <n>', `early-stopping patience (default ${S4OP_FINETUNE.patience})`, int)
    .option(
      '--lr <x>',
      `fine-tuning learning rate, SSM parameters too (default ${S4OP_FINETUNE.lr} for s4op as the paper, ${IMPORTANCE_FINETUNE.lr} for importance)`,
      num,
    )
    .option('--batch-size <n>', 'fine-tuning batch size (default 32)', int)
    .option('--max-steps <n>', 'cap on optimizer steps per fine-tune', int)
    .option('--taylor-batches <n>', 'training batches for the taylor criterion', int, 4)
    .option('--seed <n>', 'base seed of the choices and fine-tuning', int, 0)
    .option('--backend <name>', 'force a tfjs backend (tensorflow, wasm, cpu)')
    .option('--json', 'print the result as JSON')
    .option('--csv <file>', 'write every candidate as CSV')
    .option(
      '--queue <url>',
      "fine-tune each rate's candidates on workers (s4op worker) through this Redis: redis://HOST:PORT or rediss://… (give it again with --resume)",
    );
  addAgentTargetOptions(cmd, { tag: 'measure on any agent with this tag; a,b: on one agent of every device class' });
  addDatasetOptions(cmd).action(async (flags: PruneFlags) => {
    const choice = await initBackend(flags.backend);
    log(describeBackend(choice));
    // BullMQ and ioredis load only for --queue (~0.25 s a run without it would pay for nothing).
    const queue = flags.queue
      ? { ...(await import('../../queue/connection.js')), ...(await import('../../queue/client.js')) }
      : undefined;
    if (queue) {
      userCheck(() => queue.redisOptions(flags.queue!), '--queue: ');
      // Before a run is recorded: an unreachable queue is a bad argument, not a failed run.
      await userCheckAsync(() => queue.checkRedis(flags.queue!), '--queue: ');
    }
    const store = RunStore.openWorkspace(flags.workspace);
    let measurer: CostMeasurer | undefined;
    let fineTuner: QueueFineTuner | undefined;
    try {
      const { run, config, fresh } = flags.resume ? resumeRun(store, flags) : await newRun(store, flags);
      if (!fresh && (run.status === 'finished' || run.status === 'stopped')) {
        log(`run ${run.id} is already ${run.status} (${run.stop_reason ?? ''}); nothing to do`);
      } else {
        log(
          `${fresh ? 'run' : 'resuming run'} ${run.id}: ${config.search.strategy}, rates ${config.search.rates.join(',')}%, ${config.search.seeds} seed(s) per rate; store ${store.file}`,
        );
        const data = await loadRunData(config, run);
        log(
          `data ${data.info.name}: L ${data.info.length}, ${data.info.splits.train}/${data.info.splits.val}/${data.info.splits.test}`,
        );
        measurer = await runMeasurer(config, {
          run,
          store,
          length: data.info.length,
          cacheDir: path.resolve(flags.workspace, 'agent-cache'),
          token: agentTarget(flags).token,
          log,
          quiet: flags.json,
        });
        log(
          measurer.kind === 'estimate'
            ? 'cost: FLOP-count estimate (no agent; not a measurement)'
            : `cost: measured on ${measurer.agent}, ${config.measure.mode} mode`,
        );
        if (queue) {
          fineTuner = new queue.QueueFineTuner(flags.queue!, {
            runId: run.id,
            backend: choice.name,
            dataset: data.info.spec,
            log,
          });
          log(`fine-tunes go to the workers of queue ${flags.queue}`);
        }
        if (!fresh) store.updateRun(run.id, { status: 'running', stop_reason: null });
        try {
          if (measurer instanceof AgentMeasurer && (config.measure.variant ?? 'auto') === 'auto') {
            const m = measurer;
            await userCheckAsync(() =>
              tuneForRun({
                store,
                runId: run.id,
                baseCheckpoint: run.base_checkpoint,
                measurer: m,
                mode: config.measure.mode,
                length: data.info.length,
                tune: Boolean(config.measure.tune),
                log,
              }),
            );
          }
          await runSearch(
            {
              store,
              runId: run.id,
              dir: path.join(flags.workspace, 'runs', run.id),
              baseCheckpoint: run.base_checkpoint,
              data,
              measurer,
              log,
              quiet: flags.json,
              fineTuner,
            },
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
      await fineTuner?.close();
      store.close();
    }
  });
}

async function newRun(
  store: RunStore,
  f: PruneFlags,
): Promise<{ run: RunRecord; config: PruneRunConfig; fresh: boolean }> {
  if (!f.checkpoint) throw new UserError('give --checkpoint DIR (or --resume RUN)');
  const axes = userCheck(() => parseAxes(f.axes), '--axes: ');
  if (f.steer && !(axes.length === 1 && axes[0] === 'operators'))
    throw new UserError('--steer follows the operator schedule: use it with --axes operators only');
  const stateRates = f.stateRates ? userCheck(() => parseRates(f.stateRates!), '--state-rates: ') : undefined;
  if (f.stateCriterion) userCheck(() => stateCriterion(f.stateCriterion!), '--state-criterion: ');
  if ((stateRates || f.stateCriterion || f.stateLayout) && !axes.includes('states'))
    throw new UserError(
      '--state-rates, --state-criterion and --state-layout are for the states axis: add states to --axes',
    );
  if (f.estimate && (f.agent || f.tag || f.server))
    throw new UserError('--estimate measures nothing: drop --agent/--tag/--server');
  if (f.estimate && f.budgetMs !== undefined)
    throw new UserError('--budget-ms needs measured latency: drop --estimate (or give a ratio with --budget)');
  const target = agentTarget(f);
  if (f.budget !== undefined && f.budgetMs !== undefined)
    throw new UserError('give one budget: --budget (a ratio to the base) or --budget-ms, not both');
  if (f.steer && f.budgetMs === undefined && f.budget === undefined)
    throw new UserError('--steer needs a budget: --budget 0.6x or --budget-ms X');
  const budgetRatio = f.budget === undefined ? undefined : userCheck(() => parseBudget(f.budget!).ratio, '--budget: ');
  if (f.tune && f.estimate) throw new UserError('--tune measures exports on an agent: drop --estimate');
  if (f.tune && f.variant && f.variant !== 'auto')
    throw new UserError(`--tune chooses the variant: drop --variant ${f.variant}`);
  if (f.tune && f.tag?.includes(','))
    throw new UserError('--tune tunes one device class at a time: give one --tag (or --agent)');
  const ck = await userCheckAsync(() => readCheckpointConfig(f.checkpoint!));
  const criteria = f.criteria === undefined ? undefined : userCheck(() => parseCriteria(f.criteria!));
  if (f.strategy !== 'importance' && f.criteria && f.criteria !== 'random')
    throw new UserError('--criteria is for --strategy importance (s4op chooses at random)');
  const rates = f.rates ? userCheck(() => parseRates(f.rates!)) : undefined;
  const { seed: _s, ...dataFlags } = datasetOptionsFromFlags(f);
  const dataset = runDataset({ dir: f.checkpoint, datasetSpec: ck.dataset?.spec }, f.dataset, dataFlags);
  const search = searchOptionsFor({
    strategy: f.strategy,
    criteria,
    allocation: f.allocation,
    rates,
    seeds: f.seeds,
    seed: f.seed,
    fineTune: {
      epochs: f.finetuneEpochs,
      patience: f.patience,
      lr: f.lr,
      batchSize: f.batchSize,
      maxSteps: f.maxSteps,
    },
    taylorBatches: f.taylorBatches,
    maxDrop: f.maxDrop,
    budgetMs: f.budgetMs,
    budgetRatio,
    steer: f.steer,
    profileAll: f.profile,
    axes,
    stateRates,
    stateCriterion: f.stateCriterion,
    stateLayout: f.stateLayout,
  });
  const settings: unknown = f.settings
    ? userCheck(() => JSON.parse(f.settings!) as unknown, '--settings is not JSON: ')
    : {};
  const config: PruneRunConfig = {
    search,
    dataset,
    measure: {
      estimate: Boolean(f.estimate),
      mode: f.mode,
      variant: f.variant,
      tune: f.tune,
      settings,
      agent: target.agent,
      tag: target.tag,
      classQuantile: f.classQuantile,
      server: f.server,
      port: target.port,
      bind: target.bind,
    },
    argv: process.argv.slice(2),
  };
  return { run: createPruneRun(store, { id: f.runId, baseCheckpoint: f.checkpoint, config }), config, fresh: true };
}

function resumeRun(store: RunStore, f: PruneFlags): { run: RunRecord; config: PruneRunConfig; fresh: boolean } {
  if (f.checkpoint)
    throw new UserError('--resume continues a recorded run: drop --checkpoint (its settings come from the store)');
  return { ...recordedRun(store, f.resume!), fresh: false };
}

async function writeCsv(file: string, rows: CandidateRow[]): Promise<void> {
  try {
    await writeFile(file, toCsv(rows));
  } catch (err) {
    throw new UserError(`cannot write --csv ${file}: ${(err as Error).message}`);
  }
  log(`wrote ${rows.length} candidates to ${file}`);
}
