import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/random.js';
import type { Batch, InputKind, Split } from './dataset.js';
import { DataError } from './options.js';

/** Token storage narrows to the smallest type that holds the vocabulary; batches widen to int32. */
export type XArray = Float32Array | Int32Array | Uint16Array | Uint8Array;

/**
 * The single place examples live: every source fills one store, splits are index views into it, and every
 * batch is gathered from it by `gatherBatch`.
 */
export interface ExampleStore {
  count: number;
  length: number; // L
  inputSize: number; // features per step (1 for tokens)
  inputKind: InputKind;
  x: XArray; // count × L × inputSize, row-major; tokens padded with 0
  numClasses: number;
  multiLabel: boolean;
  y: Int32Array | Float32Array; // count class ids, or count × numClasses multi-hot
}

/** The narrowest unsigned array for token ids < vocabSize. */
export function tokenArray(size: number, vocabSize: number): XArray {
  if (vocabSize <= 256) return new Uint8Array(size);
  if (vocabSize <= 65536) return new Uint16Array(size);
  return new Int32Array(size);
}

/** Builds the batch of examples order[start..end) — the one function every batch goes through. */
export function gatherBatch(store: ExampleStore, order: ArrayLike<number>, start: number, end: number): Batch {
  const b = end - start;
  const row = store.length * store.inputSize;
  const xs = store.inputKind === 'continuous' ? new Float32Array(b * row) : new Int32Array(b * row);
  for (let i = 0; i < b; i++) {
    const k = order[start + i];
    xs.set(store.x.subarray(k * row, (k + 1) * row), i * row);
  }
  const x =
    store.inputKind === 'continuous'
      ? tf.tensor3d(xs, [b, store.length, store.inputSize], 'float32')
      : tf.tensor2d(xs, [b, store.length], 'int32');
  let y: tf.Tensor;
  if (store.multiLabel) {
    const c = store.numClasses;
    const ys = new Float32Array(b * c);
    for (let i = 0; i < b; i++) {
      const k = order[start + i];
      ys.set(store.y.subarray(k * c, (k + 1) * c), i * c);
    }
    y = tf.tensor2d(ys, [b, c], 'float32');
  } else {
    const ys = new Int32Array(b);
    for (let i = 0; i < b; i++) ys[i] = store.y[order[start + i]];
    y = tf.tensor1d(ys, 'int32');
  }
  return { x, y, size: b };
}

/** A split: the store plus the indices of its examples. */
export class StoreSplit implements Split {
  constructor(
    private readonly store: ExampleStore,
    private readonly indices: Int32Array,
  ) {}

  get size(): number {
    return this.indices.length;
  }

  /** Indices into the store (for disjointness checks and class balance). */
  get storeIndices(): Int32Array {
    return this.indices;
  }

  batches(batchSize: number, opts: { seed?: number } = {}): Iterable<Batch> {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new DataError(`batch size must be a positive integer, got ${batchSize}`);
    }
    if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) {
      throw new DataError(`shuffle seed must be an integer, got ${opts.seed}`);
    }
    // Only the index order is copied per epoch, never the examples.
    const order = opts.seed === undefined ? this.indices : new Rng(opts.seed).shuffle(this.indices.slice());
    const store = this.store;
    return {
      *[Symbol.iterator]() {
        for (let start = 0; start < order.length; start += batchSize) {
          yield gatherBatch(store, order, start, Math.min(start + batchSize, order.length));
        }
      },
    };
  }

  example(i: number): { x: Float32Array | Int32Array; y: number | Float32Array } {
    if (!Number.isSafeInteger(i) || i < 0 || i >= this.indices.length) {
      throw new DataError(`example index ${i} is outside the split (size ${this.indices.length})`);
    }
    const s = this.store;
    const k = this.indices[i];
    const row = s.length * s.inputSize;
    const view = s.x.subarray(k * row, (k + 1) * row);
    const x = s.inputKind === 'continuous' ? Float32Array.from(view) : Int32Array.from(view);
    const y = s.multiLabel ? Float32Array.from(s.y.subarray(k * s.numClasses, (k + 1) * s.numClasses)) : s.y[k];
    return { x, y };
  }
}

/** Examples per class among `indices`; for multi-label data, positives per class. */
export function classCounts(store: ExampleStore, indices: ArrayLike<number>): number[] {
  const counts = new Array<number>(store.numClasses).fill(0);
  const c = store.numClasses;
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    if (store.multiLabel) {
      for (let j = 0; j < c; j++) counts[j] += store.y[k * c + j];
    } else {
      counts[store.y[k]]++;
    }
  }
  return counts;
}
