import type * as tf from '@tensorflow/tfjs';
import { DataError, parseOptions } from './options.js';
import type { DatasetOptions } from './options.js';
import { loadMnist } from './mnist.js';
import { loadListOps } from './listops-dataset.js';
import { loadFiles } from './files.js';

/**
 * The one dataset interface: training, pruning and export read only this, whatever the source
 * (sMNIST/psMNIST from the mnist package, generated ListOps, or user .npy/.jsonl files).
 */
export type InputKind = 'continuous' | 'tokens';

export interface DatasetInfo {
  name: string; // e.g. 'smnist', 'psmnist', 'listops', or the file path
  length: number; // L (sequences are padded to this; tokens padded with the PAD id 0)
  inputKind: InputKind;
  inputSize: number; // features per step (continuous); 1 for sMNIST; 1 for tokens
  vocabSize?: number; // tokens only
  numClasses: number;
  multiLabel: boolean;
  splits: { train: number; val: number; test: number };
  classBalance: { train: number[]; val: number[]; test: number[] }; // counts per class
  /** What a model needs to see the same data again: seed, permutation (psMNIST), generator config, file hash…
   *  `loadDataset(spec.source, spec)` (or `reloadDataset(spec)`) rebuilds exactly this dataset. */
  spec: Record<string, unknown>;
}

export interface Batch {
  x: tf.Tensor; // continuous: float32 [B, L, inputSize]; tokens: int32 [B, L]
  y: tf.Tensor; // int32 [B] class ids, or float32 [B, C] multi-hot when multiLabel
  size: number;
}

export interface Split {
  readonly size: number;
  /** Iterates the split in batches (last batch may be smaller); shuffled by `seed` when given, else in order.
   *  Gathers each batch from the stored typed arrays (no per-epoch copy). The caller disposes each batch. */
  batches(batchSize: number, opts?: { seed?: number }): Iterable<Batch>;
  /** Raw access for export/parity tests: one example's x as a typed array and its label(s). */
  example(i: number): { x: Float32Array | Int32Array; y: number | Float32Array };
}

export interface Dataset {
  info: DatasetInfo;
  train: Split;
  val: Split;
  test: Split;
}

export type { DatasetOptions } from './options.js';
export { DataError } from './options.js';

export const BUILTIN_DATASETS = ['smnist', 'smnist14', 'psmnist', 'psmnist14', 'listops'] as const;

/** Resolves a name ('smnist', 'smnist14', 'psmnist', 'psmnist14', 'listops') or a path (.npy pair / .jsonl). */
export async function loadDataset(spec: string, opts: DatasetOptions = {}): Promise<Dataset> {
  if (typeof spec !== 'string' || spec.trim() === '') throw new DataError('dataset: give a name or a path');
  const o = parseOptions(opts);
  const name = spec.trim().toLowerCase();
  if (name === 'smnist' || name === 'smnist14' || name === 'psmnist' || name === 'psmnist14') {
    return loadMnist({
      permuted: name.startsWith('p'),
      downsample: name.endsWith('14') || o.downsample === true,
      options: o,
    });
  }
  if (name === 'listops') {
    return loadListOps(o);
  }
  return loadFiles(spec, o);
}

/** Rebuilds the dataset a model was trained on from its saved `info.spec`. */
export function reloadDataset(spec: Record<string, unknown>): Promise<Dataset> {
  if (typeof spec.source !== 'string') throw new DataError('dataset spec: "source" (name or path) is missing');
  const { source, ...rest } = spec;
  return loadDataset(source, rest as DatasetOptions);
}
