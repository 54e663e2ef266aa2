import { InputError } from '../errors.js';

/** Bad dataset input: the message names the file or option and the problem. */
export class DataError extends InputError {
  override name = 'DataError';
}

/**
 * Options of `loadDataset`. Flat on purpose: a dataset's `info.spec` is a valid options object, so
 * `loadDataset(spec.source, spec)` rebuilds the same data. Fields that do not apply to a source are ignored.
 */
export interface DatasetOptions {
  /** Seeds the split (and ListOps generation). Default 0. */
  seed?: number;
  /** Examples per split. Defaults: sMNIST and ListOps 8000/1000/1000; files 80/10/10 % of their rows. */
  splits?: { train?: number; val?: number; test?: number };

  /** sMNIST: 2×2 average-pool the 28×28 images to 14×14 (L = 196). Same as the names smnist14/psmnist14. */
  downsample?: boolean;
  /** psMNIST: seed of the fixed pixel permutation (default 0), unless `permutation` itself is given. */
  permutationSeed?: number;
  /** psMNIST: the pixel permutation (output step t reads pixel permutation[t]); length = L. */
  permutation?: readonly number[];

  /** ListOps generator (defaults are the Long Range Arena recipe: 500–2000 tokens, depth 10, 10 args). */
  minLength?: number;
  maxLength?: number;
  maxDepth?: number;
  maxArgs?: number;

  /** .npy pair given explicitly (else `path` means `path.x.npy` + `path.y.npy`). */
  x?: string;
  y?: string;
  /** Files: number of classes (default max label + 1) and vocabulary size for tokens (default max id + 1). */
  numClasses?: number;
  vocabSize?: number;
  /** .jsonl: how to read x (default: 1-D all non-negative integers → tokens, else continuous). */
  inputKind?: 'continuous' | 'tokens';
  /** .jsonl: pad shorter sequences with 0 at the end instead of rejecting ragged lengths. */
  pad?: boolean;
  /** Files: expected sha256 per file role ({ x, y } or { file }); a mismatch is an error (data changed). */
  sha256?: Record<string, string>;
}

/** DatasetOptions checked once, at the edge. */
export type ParsedOptions = DatasetOptions & { seed: number };

function checkInt(name: string, v: unknown, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new DataError(`dataset option ${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function parseOptions(opts: DatasetOptions): ParsedOptions {
  if (opts === null || typeof opts !== 'object') throw new DataError('dataset options must be an object');
  const seed = checkInt('seed', opts.seed, 0) ?? 0;
  if (seed > 0xffffffff) throw new DataError(`dataset option seed must be < 2^32, got ${seed}`);
  if (opts.splits !== undefined) {
    if (opts.splits === null || typeof opts.splits !== 'object') {
      throw new DataError('dataset option splits must be { train?, val?, test? }');
    }
    checkInt('splits.train', opts.splits.train, 1);
    checkInt('splits.val', opts.splits.val, 0);
    checkInt('splits.test', opts.splits.test, 0);
  }
  checkInt('permutationSeed', opts.permutationSeed, 0);
  checkInt('minLength', opts.minLength, 1);
  checkInt('maxLength', opts.maxLength, 1);
  checkInt('maxDepth', opts.maxDepth, 1);
  checkInt('maxArgs', opts.maxArgs, 2);
  checkInt('numClasses', opts.numClasses, 1);
  checkInt('vocabSize', opts.vocabSize, 1);
  if (opts.inputKind !== undefined && opts.inputKind !== 'continuous' && opts.inputKind !== 'tokens') {
    throw new DataError(
      `dataset option inputKind must be "continuous" or "tokens", got ${JSON.stringify(opts.inputKind)}`,
    );
  }
  if (opts.permutation !== undefined && !Array.isArray(opts.permutation)) {
    throw new DataError('dataset option permutation must be an array of pixel indices');
  }
  return { ...opts, seed };
}
