import { Rng } from '../util/random.js';
import type { Dataset } from './dataset.js';
import { generateListOps, LRA_LISTOPS, VOCAB, type ListOpsConfig } from './listops.js';
import type { ParsedOptions } from './options.js';
import { assembleDataset, resolveSplitSizes, splitIndices } from './splits.js';
import type { ExampleStore } from './store.js';

/** LRA uses 96k/2k/2k; the default here is smaller so that it builds in seconds on a small machine. */
export const LISTOPS_DEFAULT_SPLITS = { train: 8000, val: 1000, test: 1000 };

export function loadListOps(options: ParsedOptions): Dataset {
  const config: ListOpsConfig = {
    minLength: options.minLength ?? LRA_LISTOPS.minLength,
    maxLength: options.maxLength ?? LRA_LISTOPS.maxLength,
    maxDepth: options.maxDepth ?? LRA_LISTOPS.maxDepth,
    maxArgs: options.maxArgs ?? LRA_LISTOPS.maxArgs,
  };
  const requested = { ...LISTOPS_DEFAULT_SPLITS, ...options.splits };
  const total = requested.train + requested.val + requested.test;
  const sizes = resolveSplitSizes(total, requested, LISTOPS_DEFAULT_SPLITS, 'listops');
  // One seed, two independent streams: the expressions, and which split each lands in.
  const root = new Rng(options.seed);
  const samples = generateListOps(new Rng(root.fork()), config, total);
  const indices = splitIndices(total, sizes, root.fork());
  const store: ExampleStore = {
    count: total,
    length: config.maxLength,
    inputSize: 1,
    inputKind: 'tokens',
    x: samples.tokens,
    numClasses: 10,
    multiLabel: false,
    y: samples.labels,
  };
  return assembleDataset(store, indices, {
    name: 'listops',
    vocabSize: VOCAB.length,
    spec: { source: 'listops', seed: options.seed, splits: sizes, ...config, vocab: [...VOCAB] },
  });
}
