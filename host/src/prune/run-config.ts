/**
 * A pruning run's configuration: what `s4op prune` (or a program) asks for, completed with the strategy's
 * defaults, recorded in the store so a run can be resumed, and turned back into the run's data and cost
 * measurer. Bad input throws InputError (its message is for the user as is).
 */
import path from 'node:path';
import { loadDataset, reloadDataset, type Dataset, type DatasetOptions } from '../data/dataset.js';
import { InputError } from '../errors.js';
import { deviceClassOf } from '../export/tuned.js';
import type { TrainOptions } from '../train/trainer.js';
import type { RunRecord, RunStore } from '../store/run-store.js';
import { AgentMeasurer } from './cost/agent.js';
import { FlopEstimate, type CostMeasurer } from './cost/cost.js';
import { parseCriteria } from './criteria/index.js';
import { DEFAULT_RATES } from './schedule.js';
import { defaultFineTune, type SearchOptions } from './search.js';

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

/**
 * The search a run asks for; what is left out takes the strategy's default: criteria taylor (importance) or
 * random (s4op), allocation scores or s4op, rates DEFAULT_RATES, seeds 1 or 5. `fineTune` goes over the
 * strategy's fine-tuning, its `lr` setting the SSM parameters' rate too.
 */
export type SearchRequest = Pick<SearchOptions, 'strategy' | 'seed' | 'taylorBatches'> &
  Partial<Omit<SearchOptions, 'strategy' | 'seed' | 'taylorBatches' | 'fineTune'>> & {
    fineTune?: Pick<Partial<TrainOptions>, 'epochs' | 'patience' | 'lr' | 'batchSize' | 'maxSteps'>;
  };

export function searchOptionsFor(r: SearchRequest): SearchOptions {
  const importance = r.strategy === 'importance';
  const f = r.fineTune ?? {};
  const over: Partial<TrainOptions> = {
    epochs: f.epochs,
    patience: f.patience,
    lr: f.lr,
    lrSsm: f.lr,
    batchSize: f.batchSize,
    maxSteps: f.maxSteps,
  };
  return {
    strategy: r.strategy,
    criteria: r.criteria ?? parseCriteria(importance ? 'taylor' : 'random'),
    allocation: r.allocation ?? (importance ? 'scores' : 's4op'),
    rates: r.rates ?? [...DEFAULT_RATES],
    seeds: r.seeds ?? (importance ? 1 : 5),
    seed: r.seed,
    fineTune: {
      ...defaultFineTune(r.strategy),
      ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)),
    },
    taylorBatches: r.taylorBatches,
    maxDrop: r.maxDrop,
    budgetMs: r.budgetMs,
    budgetRatio: r.budgetRatio,
    steer: r.steer,
    profileAll: r.profileAll,
    ...(r.axes ? { axes: r.axes } : {}),
    ...(r.stateRates ? { stateRates: r.stateRates } : {}),
    ...(r.stateCriterion ? { stateCriterion: r.stateCriterion } : {}),
    ...(r.stateLayout ? { stateLayout: r.stateLayout } : {}),
  };
}

/**
 * The run's data: a dataset named here (`source`, with `options`; its split seed that of the checkpoint's own
 * data unless given), or else the checkpoint's own dataset spec.
 */
export function runDataset(
  checkpoint: { dir: string; datasetSpec?: unknown },
  source: string | undefined,
  options: DatasetOptions,
): PruneRunConfig['dataset'] {
  const spec = checkpoint.datasetSpec as Record<string, unknown> | undefined;
  if (source) return { source, options: { seed: (spec as { seed?: number } | undefined)?.seed ?? 0, ...options } };
  if (!spec) throw new InputError(`checkpoint ${checkpoint.dir} records no dataset spec: give --dataset`);
  return { source: null, options: {}, spec };
}

/** Records a new run of `baseCheckpoint` in the store. */
export function createPruneRun(
  store: RunStore,
  o: { id?: string; baseCheckpoint: string; config: PruneRunConfig },
): RunRecord {
  try {
    return store.createRun({
      id: o.id,
      strategy: o.config.search.strategy,
      base_checkpoint: path.resolve(o.baseCheckpoint),
      dataset: o.config.dataset,
      config: o.config,
    });
  } catch (err) {
    throw new InputError((err as Error).message);
  }
}

/** A recorded run and its configuration, to continue it. */
export function recordedRun(store: RunStore, id: string): { run: RunRecord; config: PruneRunConfig } {
  const run = store.getRun(id);
  if (!run) {
    const known = store.listRuns().map((r) => r.id);
    throw new InputError(
      `no run ${id} in ${store.file}${known.length ? ` (runs: ${known.join(', ')})` : ' (it has no runs)'}`,
    );
  }
  return { run, config: run.config as PruneRunConfig };
}

export async function loadRunData(config: PruneRunConfig, run: RunRecord): Promise<Dataset> {
  const d = config.dataset;
  try {
    return d.source ? await loadDataset(d.source, d.options) : await reloadDataset(d.spec!);
  } catch (err) {
    throw new InputError(`run ${run.id}: cannot load its dataset: ${(err as Error).message}`);
  }
}

/**
 * The run's cost measurer: the FLOP estimate, or an agent (local, named, tagged, or through a running server
 * whose token is given here, never stored).
 */
export async function runMeasurer(
  config: PruneRunConfig,
  o: {
    run: RunRecord;
    store: RunStore;
    length: number;
    cacheDir: string;
    token?: string;
    log: (line: string) => void;
    quiet?: boolean;
  },
): Promise<CostMeasurer> {
  const m = config.measure;
  if (m.estimate) return new FlopEstimate({ mode: m.mode, length: o.length });
  if (m.server && !o.token) throw new InputError('--server needs its token: --token T or S4OP_TOKEN');
  try {
    return await AgentMeasurer.start({
      mode: m.mode,
      length: o.length,
      variant: m.variant,
      settings: m.settings,
      agent: m.agent,
      tag: m.tag,
      classQuantile: m.classQuantile,
      server: m.server ? { url: m.server, token: o.token! } : undefined,
      port: m.port,
      bind: m.bind,
      token: o.token,
      cacheDir: o.cacheDir,
      source: { checkpoint: o.run.base_checkpoint },
      log: o.log,
      quiet: o.quiet,
      // One device class: `auto` exports follow its tuning, if the store has one.
      tuning: m.tag?.includes(',')
        ? undefined
        : { store: o.store, deviceClass: deviceClassOf({ agent: m.agent, tag: m.tag }) },
    });
  } catch (err) {
    throw new InputError(`cannot start measuring: ${(err as Error).message}`);
  }
}
