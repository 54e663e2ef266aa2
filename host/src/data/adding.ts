import { Rng } from '../util/random.js';
import type { Dataset } from './dataset.js';
import { classCounts, StoreSplit, type ExampleStore } from './store.js';

/**
 * The adding problem (Hochreiter & Schmidhuber's long-memory task), as classification: two features per step
 * (a value and a marker); exactly two steps are marked, one in the first tenth of the sequence and one in the
 * second half; the class is the sum of the two marked digits (digits 0..d−1, so 2d−1 classes). Values are fed
 * as digit/(d−1); unmarked steps carry random digits as distractors.
 */
export interface AddingOptions {
  length: number;
  train: number;
  val: number;
  test: number;
  seed?: number;
  /** Distinct digit values d (default 5 → 9 classes). */
  digits?: number;
}

export function addingProblem(opts: AddingOptions): Dataset {
  const { length: L, seed = 0, digits = 5 } = opts;
  if (!Number.isInteger(digits) || digits < 2)
    throw new Error(`adding problem: digits must be an integer ≥ 2, got ${digits}`);
  const numClasses = 2 * digits - 1;
  if (!Number.isInteger(L) || L < 20) throw new Error(`adding problem: length must be an integer ≥ 20, got ${L}`);
  const count = opts.train + opts.val + opts.test;
  const rng = new Rng(seed);
  const x = new Float32Array(count * L * 2);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const base = i * L * 2;
    for (let t = 0; t < L; t++) x[base + 2 * t] = rng.int(digits) / (digits - 1);
    const first = rng.int(Math.max(1, Math.floor(L / 10)));
    const second = Math.floor(L / 2) + rng.int(L - Math.floor(L / 2));
    x[base + 2 * first + 1] = 1;
    x[base + 2 * second + 1] = 1;
    y[i] = Math.round((digits - 1) * (x[base + 2 * first]! + x[base + 2 * second]!));
  }
  const store: ExampleStore = {
    count,
    length: L,
    inputSize: 2,
    inputKind: 'continuous',
    x,
    numClasses,
    multiLabel: false,
    y,
  };
  const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, k) => a + k);
  const idx = {
    train: range(0, opts.train),
    val: range(opts.train, opts.train + opts.val),
    test: range(opts.train + opts.val, count),
  };
  return {
    info: {
      name: 'adding',
      length: L,
      inputKind: 'continuous',
      inputSize: 2,
      numClasses,
      multiLabel: false,
      splits: { train: opts.train, val: opts.val, test: opts.test },
      classBalance: {
        train: classCounts(store, idx.train),
        val: classCounts(store, idx.val),
        test: classCounts(store, idx.test),
      },
      spec: {
        source: 'adding',
        length: L,
        seed,
        digits,
        splits: { train: opts.train, val: opts.val, test: opts.test },
      },
    },
    train: new StoreSplit(store, idx.train),
    val: new StoreSplit(store, idx.val),
    test: new StoreSplit(store, idx.test),
  };
}
