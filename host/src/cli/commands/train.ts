import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeBackend, initBackend } from '../../backend.js';
import { emit, log, UserError } from '../util.js';
import {
  oneOf,
  parseCount as int,
  parseNumber as num,
  addDatasetOptions,
  datasetOptionsFromFlags,
  type DatasetFlags,
} from '../options.js';
import { loadDataset, type DatasetOptions } from '../../data/dataset.js';
import { saveCheckpoint } from '../../model/checkpoint.js';
import { DEFAULT_CONFIG, type ModelConfig } from '../../model/config.js';
import { SSM_KINDS, SSM_KIND_NAMES, orList, type SsmKindName } from '../../model/kinds/registry.js';
import { SequenceModel } from '../../model/model.js';
import { DEFAULT_TRAIN, evaluate, train, type TrainOptions } from '../../train/trainer.js';

interface TrainFlags extends Omit<DatasetFlags, 'json' | 'seed'> {
  model: SsmKindName;
  dataset: string;
  config?: string;
  out?: string;
  dModel?: number;
  dState?: number;
  layers?: number;
  dropout?: number;
  prenorm?: boolean;
  norm?: 'layer' | 'batch';
  bidirectional?: boolean;
  init?: 'lin' | 'inv';
  epochs?: number;
  batchSize?: number;
  lr?: number;
  lrSsm?: number;
  weightDecay?: number;
  clip?: number;
  patience?: number;
  maxSteps?: number;
  replicas?: number;
  seed?: number;
  backend?: string;
  json?: boolean;
}

/** A config file: `{ "model": {...ModelConfig}, "train": {...TrainOptions}, "dataset": {...DatasetOptions} }`. */
export interface TrainConfigFile {
  model?: Partial<ModelConfig>;
  train?: Partial<TrainOptions>;
  dataset?: DatasetOptions;
}

async function readConfigFile(path: string): Promise<TrainConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return JSON.parse(text) as TrainConfigFile;
  } catch (err) {
    throw new UserError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

const defined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

const KINDS = Object.values(SSM_KINDS);

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description(
      `train an ${orList(KINDS.map((k) => k.title))} classifier and write a checkpoint (safetensors + config.json)`,
    )
    .requiredOption('--model <kind>', orList(SSM_KIND_NAMES), oneOf(...SSM_KIND_NAMES))
    .requiredOption('--dataset <name|path>', 'smnist, smnist14, psmnist, psmnist14, listops, or a .npy pair / .jsonl')
    .option('--config <file>', 'JSON with "model", "train" and "dataset" sections; flags override it')
    .option('--out <dir>', 'checkpoint directory (default checkpoints/<model>-<dataset>)')
    .option('--d-model <n>', `channels H = operators per layer (default ${DEFAULT_CONFIG.dModel})`, int)
    .option('--d-state <n>', `state size N (default ${DEFAULT_CONFIG.dState})`, int)
    .option('--layers <n>', `number of blocks (default ${DEFAULT_CONFIG.nLayers})`, int)
    .option('--dropout <p>', `channel dropout (default ${DEFAULT_CONFIG.dropout})`, num)
    .option('--prenorm', 'normalise before the SSM instead of after the residual')
    .option('--norm <kind>', 'layer or batch (default layer)', oneOf('layer', 'batch'))
    .option(
      '--bidirectional',
      `${orList(KINDS.filter((k) => k.bidirectional).map((k) => k.title))} only: bidirectional kernels`,
    )
    .option('--init <kind>', 'S4D A init: lin or inv (default lin)', oneOf('lin', 'inv'))
    .option('--epochs <n>', `epochs (default ${DEFAULT_TRAIN.epochs})`, int)
    .option('--batch-size <n>', `batch size (default ${DEFAULT_TRAIN.batchSize})`, int)
    .option('--lr <x>', `learning rate (default ${DEFAULT_TRAIN.lr})`, num)
    .option('--lr-ssm <x>', `SSM parameters' learning rate, weight decay 0 (default ${DEFAULT_TRAIN.lrSsm})`, num)
    .option('--weight-decay <x>', `AdamW weight decay (default ${DEFAULT_TRAIN.weightDecay})`, num)
    .option('--clip <x>', `gradient-norm clip, 0 = off (default ${DEFAULT_TRAIN.clip})`, num)
    .option('--patience <n>', `early-stopping patience in epochs, 0 = off (default ${DEFAULT_TRAIN.patience})`, int)
    .option('--max-steps <n>', 'stop after this many optimizer steps', int)
    .option(
      '--replicas <n>',
      'data-parallel replicas on worker threads (default $S4OP_REPLICAS, else one per core, at most 4, for large steps on wasm/cpu)',
      int,
    )
    .option('--seed <n>', 'seed of init, shuffling, dropout and the data split (default 0)', int)
    .option('--backend <name>', 'force a tfjs backend (tensorflow, wasm, cpu)')
    .option('--json', 'print the training record as JSON');
  addDatasetOptions(cmd).action(async (flags: TrainFlags) => {
    const choice = await initBackend(flags.backend);
    log(describeBackend(choice));
    const file = flags.config ? await readConfigFile(flags.config) : {};
    const seed = flags.seed ?? file.train?.seed ?? 0;
    const { seed: _flagSeed, ...fromFlags } = datasetOptionsFromFlags(flags);
    const dataOpts: DatasetOptions = { seed, ...file.dataset, ...fromFlags };
    const data = await loadDataset(flags.dataset, dataOpts);
    const info = data.info;
    const config: ModelConfig = {
      ...DEFAULT_CONFIG,
      ...file.model,
      ...defined({
        ssm: flags.model,
        dModel: flags.dModel,
        dState: flags.dState,
        nLayers: flags.layers,
        dropout: flags.dropout,
        prenorm: flags.prenorm,
        norm: flags.norm,
        bidirectional: flags.bidirectional,
        init: flags.init,
      }),
      inputKind: info.inputKind,
      inputSize: info.inputSize,
      vocabSize: info.vocabSize,
      numClasses: info.numClasses,
      multiLabel: info.multiLabel,
    };
    const trainOpts: Partial<TrainOptions> = {
      ...file.train,
      ...defined({
        epochs: flags.epochs,
        batchSize: flags.batchSize,
        lr: flags.lr,
        lrSsm: flags.lrSsm,
        weightDecay: flags.weightDecay,
        clip: flags.clip,
        patience: flags.patience,
        maxSteps: flags.maxSteps,
        replicas: flags.replicas,
      }),
      seed,
      quiet: flags.json,
    };
    const model = new SequenceModel(config, seed);
    log(
      `model ${config.ssm}: d_model ${config.dModel}, d_state ${config.dState}, ${config.nLayers} layers, ${model.parameterCount()} parameters; data ${info.name}: L ${info.length}, ${info.splits.train}/${info.splits.val}/${info.splits.test}`,
    );
    const record = train(model, data, trainOpts);
    log(`trained with ${record.options.replicas} data-parallel replica(s)`);
    const test = evaluate(model, data.test);
    const out = flags.out ?? `checkpoints/${config.ssm}-${info.name.replace(/[^\w.-]+/g, '_')}`;
    const saved = await saveCheckpoint(out, model, {
      dataset: { name: info.name, length: info.length, spec: info.spec },
      training: { ...record, test, backend: choice.name },
    });
    const summary = {
      checkpoint: out,
      weights_sha256: saved.weights_sha256,
      parameters: model.parameterCount(),
      best_epoch: record.bestEpoch,
      val_metric: record.bestValMetric,
      test_metric: test.metric,
      test_loss: test.loss,
      steps: record.steps,
      seconds: record.seconds,
      replicas: record.options.replicas,
      backend: choice.name,
    };
    emit(
      flags,
      summary,
      () =>
        `wrote ${out}: best epoch ${record.bestEpoch + 1}, val ${record.bestValMetric.toFixed(4)}, test ${test.metric.toFixed(4)} (${record.steps} steps, ${record.seconds.toFixed(1)} s)`,
    );
    model.dispose();
  });
}
