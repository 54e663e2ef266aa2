import { Rng } from '../util/random.js';
import type { Dataset, DatasetInfo } from './dataset.js';
import { DataError } from './options.js';
import { classCounts, StoreSplit, type ExampleStore } from './store.js';

export interface SplitSizes {
  train: number;
  val: number;
  test: number;
}

/**
 * Requested sizes over defaults; the three must fit in `total` examples of `what`. Without a requested train
 * size, train shrinks to what val and test leave over (so asking only for a bigger val split just works).
 */
export function resolveSplitSizes(
  total: number,
  requested: Partial<SplitSizes> | undefined,
  defaults: SplitSizes,
  what: string,
): SplitSizes {
  const val = requested?.val ?? defaults.val;
  const test = requested?.test ?? defaults.test;
  const sizes = { train: requested?.train ?? Math.min(defaults.train, total - val - test), val, test };
  const sum = sizes.train + sizes.val + sizes.test;
  if (sum > total) {
    throw new DataError(
      `${what}: splits ${sizes.train}/${sizes.val}/${sizes.test} need ${sum} examples but there are ${total}`,
    );
  }
  if (sizes.train < 1) throw new DataError(`${what}: the train split is empty`);
  return sizes;
}

/** 80/10/10 % of `total` (at least one training example). */
export function defaultFractions(total: number): SplitSizes {
  const val = Math.floor(total / 10);
  const test = Math.floor(total / 10);
  return { train: total - val - test, val, test };
}

/** Disjoint index sets drawn by one seeded permutation of 0..total-1 (unused examples are left out). */
export function splitIndices(total: number, sizes: SplitSizes, seed: number): Record<keyof SplitSizes, Int32Array> {
  const perm = new Rng(seed).permutation(total);
  const train = perm.slice(0, sizes.train);
  const val = perm.slice(sizes.train, sizes.train + sizes.val);
  const test = perm.slice(sizes.train + sizes.val, sizes.train + sizes.val + sizes.test);
  // Sorted, so a split in order reads the source in order (and batches are reproducible without a seed).
  return { train: train.sort(), val: val.sort(), test: test.sort() };
}

/** Wraps a filled store and its split indices as the Dataset interface, with class balance counted. */
export function assembleDataset(
  store: ExampleStore,
  indices: Record<keyof SplitSizes, Int32Array>,
  meta: { name: string; vocabSize?: number; spec: Record<string, unknown> },
): Dataset {
  const info: DatasetInfo = {
    name: meta.name,
    length: store.length,
    inputKind: store.inputKind,
    inputSize: store.inputSize,
    ...(store.inputKind === 'tokens' ? { vocabSize: meta.vocabSize } : {}),
    numClasses: store.numClasses,
    multiLabel: store.multiLabel,
    splits: { train: indices.train.length, val: indices.val.length, test: indices.test.length },
    classBalance: {
      train: classCounts(store, indices.train),
      val: classCounts(store, indices.val),
      test: classCounts(store, indices.test),
    },
    spec: meta.spec,
  };
  return {
    info,
    train: new StoreSplit(store, indices.train),
    val: new StoreSplit(store, indices.val),
    test: new StoreSplit(store, indices.test),
  };
}
