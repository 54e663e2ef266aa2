import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@s4op/host';
import { assembleDataset, defaultFractions, resolveSplitSizes, splitIndices } from '../../host/src/data/splits.js';
import { gatherBatch, type ExampleStore } from '../../host/src/data/store.js';

beforeAll(() => initBackend());

/** 30 examples of L = 4, D = 2: x[n, t, d] = 100 n + 10 t + d; y = n mod 3. */
function store(): ExampleStore {
  const x = new Float32Array(30 * 4 * 2).map(
    (_, i) => 100 * Math.floor(i / 8) + 10 * (Math.floor(i / 2) % 4) + (i % 2),
  );
  return {
    count: 30,
    length: 4,
    inputSize: 2,
    inputKind: 'continuous',
    x,
    numClasses: 3,
    multiLabel: false,
    y: new Int32Array(30).map((_, n) => n % 3),
  };
}

describe('splits', () => {
  it('are disjoint, sized as asked, sorted, and fixed by the seed', () => {
    const s = splitIndices(100, { train: 60, val: 20, test: 15 }, 9);
    expect([s.train.length, s.val.length, s.test.length]).toEqual([60, 20, 15]);
    const all = new Set([...s.train, ...s.val, ...s.test]);
    expect(all.size).toBe(95);
    for (const v of all) expect(v >= 0 && v < 100).toBe(true);
    expect(Array.from(s.val)).toEqual([...s.val].sort((a, b) => a - b));
    expect(splitIndices(100, { train: 60, val: 20, test: 15 }, 9)).toEqual(s);
    expect(splitIndices(100, { train: 60, val: 20, test: 15 }, 10).val).not.toEqual(s.val);
  });

  it('default to 80/10/10 and reject sizes that do not fit', () => {
    expect(defaultFractions(1000)).toEqual({ train: 800, val: 100, test: 100 });
    expect(defaultFractions(7)).toEqual({ train: 7, val: 0, test: 0 });
    // Train gives way to a larger val or test split unless it is asked for too.
    expect(resolveSplitSizes(10, { val: 3 }, defaultFractions(10), 'f')).toEqual({ train: 6, val: 3, test: 1 });
    expect(() => resolveSplitSizes(10, { train: 8, val: 4 }, defaultFractions(10), 'f.npy')).toThrow(
      'f.npy: splits 8/4/1 need 13 examples but there are 10',
    );
    expect(() => resolveSplitSizes(10, { val: 5, test: 5 }, defaultFractions(10), 'f.npy')).toThrow(
      'f.npy: the train split is empty',
    );
  });
});

describe('batches', () => {
  it('gather exactly the indexed examples', () => {
    const s = store();
    const b = gatherBatch(s, [29, 0, 7], 0, 3);
    expect(b.size).toBe(3);
    expect(b.x.arraySync()).toEqual(
      [29, 0, 7].map((n) => [0, 1, 2, 3].map((t) => [0, 1].map((d) => 100 * n + 10 * t + d))),
    );
    expect(Array.from(b.y.dataSync())).toEqual([2, 0, 1]);
    b.x.dispose();
    b.y.dispose();
  });

  it('cover a split once per epoch, in order or shuffled by seed, and count class balance', () => {
    const s = store();
    const d = assembleDataset(s, splitIndices(30, { train: 20, val: 5, test: 5 }, 1), { name: 't', spec: {} });
    expect(d.info.classBalance.train.reduce((a, b) => a + b)).toBe(20);
    const firstOfEach = (seed?: number) => {
      const out: number[] = [];
      for (const b of d.train.batches(6, seed === undefined ? {} : { seed })) {
        const x = b.x.dataSync();
        for (let i = 0; i < b.size; i++) out.push(x[i * 8] / 100);
        b.x.dispose();
        b.y.dispose();
      }
      return out;
    };
    const inOrder = firstOfEach();
    expect(inOrder).toEqual([...inOrder].sort((a, b) => a - b));
    const shuffled = firstOfEach(3);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(inOrder);
    expect(shuffled).not.toEqual(inOrder);
    expect(firstOfEach(3)).toEqual(shuffled);
    expect(() => d.train.batches(0)).toThrow('batch size must be a positive integer, got 0');
    expect(() => d.train.example(20)).toThrow('example index 20 is outside the split (size 20)');
  });
});
