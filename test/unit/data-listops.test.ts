import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, loadDataset, reloadDataset } from '@s4op/host';
import {
  decode,
  encode,
  evaluate,
  generateListOps,
  parseExpression,
  PAD_ID,
  VOCAB,
  type ListOpsConfig,
} from '../../host/src/data/listops.js';
import type { StoreSplit } from '../../host/src/data/store.js';
import { Rng } from '../../host/src/util/random.js';

const value = (text: string) => evaluate(parseExpression(text));

describe('ListOps evaluator on hand-written expressions', () => {
  it.each([
    ['7', 7],
    ['[MAX 2 9 [MIN 4 7 ] 0 ]', 9],
    ['[MIN 7 [MAX 1 2 ] [SM 9 9 ] ]', 2],
    ['[SM 5 6 7 ]', 8], // 18 mod 10
    ['[SM 0 0 ]', 0],
    ['[MED 1 9 3 ]', 3],
    ['[MED 1 2 4 8 ]', 3], // (2 + 4) / 2
    ['[MED 3 4 ]', 3], // 3.5 rounded down, as int(np.median)
    ['[MED 9 8 ]', 8],
    ['[SM [MED 0 0 1 ] [MAX 3 [MIN 8 5 6 ] ] 9 ]', 4], // 0 + 5 + 9 = 14
    ['[MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ]', 5], // the LRA paper's example
    ['( ( ( [MAX 2 ) 9 ) ] )', 9], // the LRA .tsv form, with parentheses
  ])('%s = %i', (text, want) => {
    expect(value(text)).toBe(want);
  });

  it.each([
    ['[MAX 2 9', /unclosed \[MAX/],
    ['[FOO 1 ]', /unknown token "\[FOO"/],
    ['[MAX ]', /\[MAX has no arguments/],
    ['3 4', /trailing tokens/],
    ['', /unexpected end/],
    ['12', /unknown token "12"/],
  ])('rejects %j', (text, why) => {
    expect(() => parseExpression(text)).toThrow(why);
  });
});

describe('ListOps tokenizer', () => {
  it('has a fixed vocabulary: PAD, digits, four operators, closing bracket', () => {
    expect(VOCAB).toEqual([
      '<pad>',
      '0',
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
      '[MIN',
      '[MAX',
      '[MED',
      '[SM',
      ']',
    ]);
    expect(PAD_ID).toBe(0);
  });

  it('round-trips tokens and drops padding on decode', () => {
    const tokens = ['[SM', '3', '[MIN', '4', '0', ']', ']'];
    const ids = encode(tokens);
    expect(Array.from(ids)).toEqual([14, 4, 11, 5, 1, 15, 15]);
    expect(decode([...ids, 0, 0])).toEqual(tokens);
  });

  it('names unknown tokens and ids', () => {
    expect(() => encode(['[MAX', '(', ']'])).toThrow('"(" is not in the vocabulary');
    expect(() => decode([3, 99])).toThrow('id 99 is not in the vocabulary');
  });
});

/** Independent check of labels: a left-to-right stack machine over token ids (no tree, no recursion). */
function stackValue(ids: ArrayLike<number>): number {
  const stack: { op: string; args: number[] }[] = [];
  let result = -1;
  for (let i = 0; i < ids.length && ids[i] !== 0; i++) {
    const t = VOCAB[ids[i]];
    if (t.startsWith('[')) stack.push({ op: t, args: [] });
    else {
      let v: number;
      if (t === ']') {
        const { op, args } = stack.pop()!;
        const s = [...args].sort((a, b) => a - b);
        const n = s.length;
        v =
          op === '[MIN'
            ? s[0]
            : op === '[MAX'
              ? s[n - 1]
              : op === '[SM'
                ? args.reduce((a, b) => a + b) % 10
                : n % 2
                  ? s[(n - 1) / 2]
                  : Math.floor((s[n / 2 - 1] + s[n / 2]) / 2);
      } else v = Number(t);
      if (stack.length) stack[stack.length - 1].args.push(v);
      else result = v;
    }
  }
  return result;
}

/** Deepest operator nesting and the argument counts of every operator. */
function shape(ids: ArrayLike<number>): { depth: number; argCounts: number[] } {
  let depth = 0;
  let maxDepth = 0;
  const open: number[] = [];
  const argCounts: number[] = [];
  for (let i = 0; i < ids.length && ids[i] !== 0; i++) {
    const t = VOCAB[ids[i]];
    if (t === ']') {
      argCounts.push(open.pop()!);
      depth--;
      continue;
    }
    if (open.length) open[open.length - 1]++;
    if (t.startsWith('[')) {
      open.push(0);
      maxDepth = Math.max(maxDepth, ++depth);
    }
  }
  return { depth: maxDepth, argCounts };
}

describe('ListOps generator', () => {
  const config: ListOpsConfig = { minLength: 30, maxLength: 120, maxDepth: 6, maxArgs: 5 };

  it('draws expressions within the length range, depth and argument bounds, labelled by their value', () => {
    const s = generateListOps(new Rng(3), config, 300);
    const L = config.maxLength;
    for (let n = 0; n < s.count; n++) {
      const ids = s.tokens.subarray(n * L, (n + 1) * L);
      const len = ids.findIndex((v) => v === 0);
      expect(len === -1 ? L : len).toBe(s.lengths[n]);
      expect(s.lengths[n]).toBeGreaterThanOrEqual(config.minLength);
      expect(s.lengths[n]).toBeLessThanOrEqual(config.maxLength);
      const { depth, argCounts } = shape(ids);
      expect(depth).toBeLessThanOrEqual(config.maxDepth - 1); // the recipe forces digits at maxDepth
      for (const a of argCounts) {
        expect(a).toBeGreaterThanOrEqual(2);
        expect(a).toBeLessThanOrEqual(config.maxArgs);
      }
      expect(s.labels[n]).toBe(stackValue(ids));
    }
  });

  it('is deterministic by seed and differs across seeds', () => {
    const a = generateListOps(new Rng(5), config, 50);
    const b = generateListOps(new Rng(5), config, 50);
    const c = generateListOps(new Rng(6), config, 50);
    expect(Buffer.from(a.tokens).equals(Buffer.from(b.tokens))).toBe(true);
    expect(Buffer.from(a.tokens).equals(Buffer.from(c.tokens))).toBe(false);
  });

  it('fails clearly when the length range cannot be reached', () => {
    expect(() => generateListOps(new Rng(1), { minLength: 90, maxLength: 100, maxDepth: 3, maxArgs: 3 }, 5)).toThrow(
      /ListOps: only 0 of 5 distinct expressions with 90–100 tokens after \d+ attempts/,
    );
    expect(() => generateListOps(new Rng(1), { ...config, minLength: 200 }, 5)).toThrow(
      /minLength 200 is above maxLength 120/,
    );
  });
});

describe('ListOps dataset', () => {
  beforeAll(() => initBackend());
  const opts = {
    minLength: 20,
    maxLength: 80,
    maxDepth: 5,
    maxArgs: 5,
    seed: 11,
    splits: { train: 400, val: 60, test: 60 },
  };

  it('describes itself and balances classes over its splits', async () => {
    const d = await loadDataset('listops', opts);
    expect(d.info).toMatchObject({
      name: 'listops',
      length: 80,
      inputKind: 'tokens',
      inputSize: 1,
      vocabSize: 16,
      numClasses: 10,
      multiLabel: false,
      splits: { train: 400, val: 60, test: 60 },
    });
    for (const k of ['train', 'val', 'test'] as const) {
      expect(d.info.classBalance[k]).toHaveLength(10);
      expect(d.info.classBalance[k].reduce((a, b) => a + b)).toBe(d.info.splits[k]);
      const counted = new Array(10).fill(0);
      for (let i = 0; i < d[k].size; i++) counted[d[k].example(i).y as number]++;
      expect(counted).toEqual(d.info.classBalance[k]);
    }
  });

  it('puts no expression in two splits and rebuilds identically from its spec', async () => {
    const d = await loadDataset('listops', opts);
    const key = (x: Float32Array | Int32Array) => Array.from(x).join(',');
    const seen = new Map<string, string>();
    for (const k of ['train', 'val', 'test'] as const) {
      for (let i = 0; i < d[k].size; i++) {
        const e = key(d[k].example(i).x);
        expect(seen.get(e)).toBeUndefined();
        seen.set(e, k);
      }
    }
    const again = await reloadDataset(d.info.spec);
    expect(again.info).toEqual(d.info);
    expect((again.test as StoreSplit).storeIndices).toEqual((d.test as StoreSplit).storeIndices);
    expect(key(again.test.example(7).x)).toBe(key(d.test.example(7).x));
    const other = await loadDataset('listops', { ...opts, seed: 12 });
    expect(key(other.test.example(0).x)).not.toBe(key(d.test.example(0).x));
  });

  it('batches tokens as int32 [B, L] with int32 labels', async () => {
    const d = await loadDataset('listops', opts);
    const [b] = d.val.batches(16);
    expect(b.x.shape).toEqual([16, 80]);
    expect(b.x.dtype).toBe('int32');
    expect(b.y.dtype).toBe('int32');
    const x = b.x.arraySync() as number[][];
    expect(x[3]).toEqual(Array.from(d.val.example(3).x));
    b.x.dispose();
    b.y.dispose();
  });
});
