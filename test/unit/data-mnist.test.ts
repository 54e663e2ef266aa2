import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, loadDataset, reloadDataset, type Dataset } from '@s4op/host';
import type { StoreSplit } from '../../host/src/data/store.js';

// The package's own files, read here independently of the loader: digit d's images, in order.
const dir = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
const raw: number[][] = [];
for (let d = 0; d < 10; d++) raw.push(JSON.parse(readFileSync(join(dir, 'src', 'digits', `${d}.json`), 'utf8')).data);
const perDigit = raw.map((r) => r.length / 784);

/** Digit and 784 pixels of package image k (digit 0's images first). */
function rawImage(k: number): { digit: number; pixels: number[] } {
  let digit = 0;
  while (k >= perDigit[digit]) k -= perDigit[digit++];
  return { digit, pixels: raw[digit].slice(k * 784, (k + 1) * 784) };
}

const storeIndex = (d: Dataset, split: 'train' | 'val' | 'test', i: number) => (d[split] as StoreSplit).storeIndices[i];

beforeAll(() => initBackend());

describe('sMNIST', () => {
  let d: Dataset;
  beforeAll(async () => {
    d = await loadDataset('smnist');
  });

  it('uses all 10,000 digits of the package, 8,000 / 1,000 / 1,000 by default', () => {
    expect(perDigit.reduce((a, b) => a + b)).toBe(10_000);
    expect(d.info).toMatchObject({
      name: 'smnist',
      length: 784,
      inputKind: 'continuous',
      inputSize: 1,
      numClasses: 10,
      multiLabel: false,
    });
    expect(d.info.splits).toEqual({ train: 8000, val: 1000, test: 1000 });
    const total = d.info.classBalance.train.map((n, c) => n + d.info.classBalance.val[c] + d.info.classBalance.test[c]);
    expect(total).toEqual(perDigit);
  });

  it('splits disjointly by index and covers every image once', () => {
    const all = [
      ...(d.train as StoreSplit).storeIndices,
      ...(d.val as StoreSplit).storeIndices,
      ...(d.test as StoreSplit).storeIndices,
    ];
    expect(new Set(all).size).toBe(10_000);
    expect(Math.min(...all)).toBe(0);
    expect(Math.max(...all)).toBe(9_999);
  });

  it('has no duplicate images in the package, so no image vector is in two splits', () => {
    const keys = new Set<string>();
    for (let k = 0; k < 10_000; k++) keys.add(rawImage(k).pixels.join(','));
    expect(keys.size).toBe(10_000);
  });

  it('reads each image as its pixel sequence in [0, 1] with its digit as label', () => {
    for (const [split, i] of [
      ['train', 0],
      ['train', 7777],
      ['val', 500],
      ['test', 999],
    ] as const) {
      const e = d[split].example(i);
      const want = rawImage(storeIndex(d, split, i));
      expect(e.y).toBe(want.digit);
      expect(e.x).toHaveLength(784);
      want.pixels.forEach((p, t) => expect(e.x[t]).toBeCloseTo(p, 6));
      expect(Math.min(...e.x)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...e.x)).toBeLessThanOrEqual(1);
    }
  });

  it('draws the same split for the same seed and another for another seed', async () => {
    const same = await loadDataset('smnist', { seed: 0 });
    const other = await loadDataset('smnist', { seed: 1 });
    expect((same.val as StoreSplit).storeIndices).toEqual((d.val as StoreSplit).storeIndices);
    expect((other.val as StoreSplit).storeIndices).not.toEqual((d.val as StoreSplit).storeIndices);
  });

  it('honours smaller split sizes and rejects ones that do not fit', async () => {
    const small = await loadDataset('smnist', { splits: { train: 500, val: 100, test: 100 } });
    expect(small.info.splits).toEqual({ train: 500, val: 100, test: 100 });
    await expect(loadDataset('smnist', { splits: { train: 9000, val: 1000, test: 1000 } })).rejects.toThrow(
      'smnist: splits 9000/1000/1000 need 11000 examples but there are 10000',
    );
    await expect(loadDataset('smnist', { seed: -1 })).rejects.toThrow('seed must be an integer ≥ 0');
  });

  it('batches float32 [B, 784, 1] with int32 labels, shuffled by seed without losing examples', () => {
    const sizes: number[] = [];
    const labels: number[] = [];
    for (const b of d.val.batches(300, { seed: 4 })) {
      expect(b.x.shape).toEqual([b.size, 784, 1]);
      expect(b.x.dtype).toBe('float32');
      expect(b.y.dtype).toBe('int32');
      sizes.push(b.size);
      labels.push(...(b.y.dataSync() as Int32Array));
      b.x.dispose();
      b.y.dispose();
    }
    expect(sizes).toEqual([300, 300, 300, 100]);
    const counts = new Array(10).fill(0);
    for (const l of labels) counts[l]++;
    expect(counts).toEqual(d.info.classBalance.val);

    const first = (seed?: number) => {
      const [b] = d.val.batches(50, seed === undefined ? {} : { seed });
      const y = Array.from(b.y.dataSync());
      const x0 = Array.from(b.x.dataSync().subarray(0, 784));
      b.x.dispose();
      b.y.dispose();
      return { y, x0 };
    };
    expect(first(4)).toEqual(first(4));
    expect(first(4).y).not.toEqual(first(5).y);
    // Unshuffled batches read the split in order.
    const inOrder = first();
    expect(inOrder.y).toEqual(Array.from({ length: 50 }, (_, i) => d.val.example(i).y));
    expect(inOrder.x0).toEqual(Array.from(d.val.example(0).x));
  });
});

describe('sMNIST 14×14', () => {
  it('average-pools 2×2 blocks (L = 196)', async () => {
    const d = await loadDataset('smnist14');
    expect(d.info.length).toBe(196);
    const e = d.test.example(3);
    const { pixels } = rawImage(storeIndex(d, 'test', 3));
    for (let r = 0; r < 14; r++) {
      for (let c = 0; c < 14; c++) {
        const want =
          (pixels[56 * r + 2 * c] +
            pixels[56 * r + 2 * c + 1] +
            pixels[56 * r + 28 + 2 * c] +
            pixels[56 * r + 28 + 2 * c + 1]) /
          4;
        expect(e.x[14 * r + c]).toBeCloseTo(want, 6);
      }
    }
    expect((await loadDataset('smnist', { downsample: true })).info.length).toBe(196);
  });
});

describe('psMNIST', () => {
  it('applies one seeded permutation, stored in the spec, and rebuilds from it', async () => {
    const d = await loadDataset('psmnist');
    const perm = d.info.spec.permutation as number[];
    expect([...perm].sort((a, b) => a - b)).toEqual(Array.from({ length: 784 }, (_, i) => i));
    expect(perm).not.toEqual(Array.from({ length: 784 }, (_, i) => i));
    const e = d.train.example(42);
    const { pixels, digit } = rawImage(storeIndex(d, 'train', 42));
    expect(e.y).toBe(digit);
    perm.forEach((p, t) => expect(e.x[t]).toBeCloseTo(pixels[p], 6));

    // Same permutation whatever the split seed; another permutation seed gives another.
    expect((await loadDataset('psmnist', { seed: 3 })).info.spec.permutation).toEqual(perm);
    expect((await loadDataset('psmnist', { permutationSeed: 1 })).info.spec.permutation).not.toEqual(perm);

    const again = await reloadDataset(JSON.parse(JSON.stringify(d.info.spec)));
    expect(again.info).toEqual(d.info);
    expect(Array.from(again.train.example(42).x)).toEqual(Array.from(e.x));
  });

  it('uses a given permutation and rejects one that is not', async () => {
    const reversed = Array.from({ length: 196 }, (_, i) => 195 - i);
    const d = await loadDataset('psmnist14', { permutation: reversed });
    const plain = await loadDataset('smnist14');
    expect(Array.from(d.val.example(0).x)).toEqual(Array.from(plain.val.example(0).x).reverse());
    await expect(loadDataset('psmnist14', { permutation: reversed.slice(1) })).rejects.toThrow(
      'psMNIST: permutation has 195 entries but the sequence length is 196',
    );
    await expect(loadDataset('psmnist14', { permutation: [...reversed.slice(1), 1] })).rejects.toThrow(
      /not a permutation of 0\.\.195 \(bad or repeated entry 1\)/,
    );
  });
});
