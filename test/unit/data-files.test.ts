import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, loadDataset, reloadDataset } from '@s4op/host';
import type { StoreSplit } from '../../host/src/data/store.js';

const dir = mkdtempSync(join(tmpdir(), 's4op-data-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => initBackend());

/** A version 1.0 .npy file, written from the format description (header padded to 64 bytes, ending in \n). */
function npy(descr: string, shape: number[], data: ArrayBufferView): Buffer {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    head,
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

function write(name: string, content: Buffer | string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** x[n, t, d] = n + t / 100 + d / 1000: every value tells where it came from. */
function xValue(n: number, t: number, d = 0): number {
  return n + t / 100 + d / 1000;
}

describe('.npy pairs', () => {
  it('reads NAME.x.npy + NAME.y.npy as continuous [N, L] with labels, split 80/10/10 by seed', async () => {
    const N = 50;
    const L = 12;
    const x = new Float32Array(N * L).map((_, i) => xValue(Math.floor(i / L), i % L));
    const y = new Int32Array(N).map((_, n) => n % 3);
    write('cont.x.npy', npy('<f4', [N, L], x));
    write('cont.y.npy', npy('<i4', [N], y));
    const d = await loadDataset(join(dir, 'cont'), { seed: 2 });
    expect(d.info).toMatchObject({
      length: L,
      inputKind: 'continuous',
      inputSize: 1,
      numClasses: 3,
      multiLabel: false,
    });
    expect(d.info.splits).toEqual({ train: 40, val: 5, test: 5 });
    const idx = [
      ...(d.train as StoreSplit).storeIndices,
      ...(d.val as StoreSplit).storeIndices,
      ...(d.test as StoreSplit).storeIndices,
    ];
    expect(new Set(idx).size).toBe(N);
    for (let i = 0; i < d.test.size; i++) {
      const n = (d.test as StoreSplit).storeIndices[i];
      const e = d.test.example(i);
      expect(e.y).toBe(n % 3);
      expect(Array.from(e.x)).toEqual(Array.from({ length: L }, (_, t) => Math.fround(xValue(n, t))));
    }
    const [b] = d.train.batches(8, { seed: 1 });
    expect(b.x.shape).toEqual([8, L, 1]);
    b.x.dispose();
    b.y.dispose();
  });

  it('reads float64 [N, L, D] given as x and y files, and integer [N, L] as tokens', async () => {
    const N = 20;
    const L = 5;
    const D = 3;
    const x = new Float64Array(N * L * D).map((_, i) => xValue(Math.floor(i / (L * D)), Math.floor(i / D) % L, i % D));
    const xf = write('feat-x.npy', npy('<f8', [N, L, D], x));
    const yf = write(
      'feat-y.npy',
      npy(
        '<i8',
        [N],
        new BigInt64Array(N).map((_, n) => BigInt(n % 4)),
      ),
    );
    const d = await loadDataset('features', { x: xf, y: yf, splits: { train: 10, val: 5, test: 5 } });
    expect(d.info).toMatchObject({ inputKind: 'continuous', length: L, inputSize: D, numClasses: 4 });
    const n = (d.val as StoreSplit).storeIndices[2];
    expect(d.val.example(2).x[1 * D + 2]).toBeCloseTo(xValue(n, 1, 2), 5);
    const [b] = d.val.batches(5);
    expect(b.x.shape).toEqual([5, L, D]);
    b.x.dispose();
    b.y.dispose();

    const tokens = new BigInt64Array(N * L).map((_, i) => BigInt((i * 7) % 300));
    write('tok.x.npy', npy('<i8', [N, L], tokens));
    write(
      'tok.y.npy',
      npy(
        '|u1',
        [N],
        new Uint8Array(N).map((_, n) => n % 2),
      ),
    );
    const t = await loadDataset(join(dir, 'tok.x.npy'));
    const maxId = Math.max(...Array.from(tokens, Number));
    expect(t.info).toMatchObject({ inputKind: 'tokens', inputSize: 1, vocabSize: maxId + 1, numClasses: 2 });
    expect((await loadDataset(join(dir, 'tok'), { vocabSize: 1000 })).info.vocabSize).toBe(1000);
    expect(Array.from(t.train.example(0).x)).toEqual(
      Array.from({ length: L }, (_, s) => (((t.train as StoreSplit).storeIndices[0] * L + s) * 7) % 300),
    );
    const [tb] = t.train.batches(4);
    expect(tb.x.shape).toEqual([4, L]);
    expect(tb.x.dtype).toBe('int32');
    tb.x.dispose();
    tb.y.dispose();
  });

  it('reads multi-hot y [N, C] as multi-label, balance counting positives', async () => {
    const N = 10;
    const C = 4;
    write('multi.x.npy', npy('<f4', [N, 3], new Float32Array(N * 3)));
    const y = new Uint8Array(N * C).map((_, i) => (i % C === 0 || i % 5 === 0 ? 1 : 0));
    write('multi.y.npy', npy('|u1', [N, C], y));
    const d = await loadDataset(join(dir, 'multi'), { splits: { train: 10, val: 0, test: 0 } });
    expect(d.info.multiLabel).toBe(true);
    expect(d.info.numClasses).toBe(C);
    const positives = [0, 1, 2, 3].map((c) => y.filter((v, i) => v === 1 && i % C === c).length);
    expect(d.info.classBalance.train).toEqual(positives);
    const [b] = d.train.batches(10);
    expect(b.y.shape).toEqual([10, C]);
    expect(b.y.dtype).toBe('float32');
    expect(Array.from(b.y.dataSync())).toEqual(Array.from(y));
    b.x.dispose();
    b.y.dispose();
  });

  it('records file hashes in the spec, rebuilds from it, and notices a changed file', async () => {
    write('h.x.npy', npy('<f4', [10, 2], new Float32Array(20).fill(0.5)));
    write('h.y.npy', npy('<i4', [10], new Int32Array(10).fill(1)));
    const d = await loadDataset(join(dir, 'h'));
    expect(d.info.spec.sha256).toMatchObject({ x: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await reloadDataset(d.info.spec)).info).toEqual(d.info);
    write('h.y.npy', npy('<i4', [10], new Int32Array(10).fill(0)));
    await expect(reloadDataset(d.info.spec)).rejects.toThrow(
      /h\.y\.npy: contents changed since the dataset spec was made/,
    );
  });
});

describe('.jsonl files', () => {
  const lines = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

  it('reads integer sequences as tokens and nested ones as continuous features', async () => {
    const tok = write('tok.jsonl', lines(Array.from({ length: 10 }, (_, n) => ({ x: [n, n + 1, 0, 2], y: n % 5 }))));
    const t = await loadDataset(tok);
    expect(t.info).toMatchObject({ inputKind: 'tokens', length: 4, vocabSize: 11, numClasses: 5 });
    const n = (t.val as StoreSplit).storeIndices[0];
    expect(Array.from(t.val.example(0).x)).toEqual([n, n + 1, 0, 2]);

    const cont = write(
      'cont.jsonl',
      lines(
        Array.from({ length: 10 }, (_, n) => ({
          x: [
            [n, 0.5],
            [1, 2],
          ],
          y: 1,
        })),
      ),
    );
    const c = await loadDataset(cont, { numClasses: 3 });
    expect(c.info).toMatchObject({ inputKind: 'continuous', length: 2, inputSize: 2, numClasses: 3 });
    expect(c.info.classBalance.train).toEqual([0, 8, 0]);

    const forced = await loadDataset(tok, { inputKind: 'continuous' });
    expect(forced.info).toMatchObject({ inputKind: 'continuous', inputSize: 1 });
  });

  it('reads multi-hot y and pads ragged sequences when asked', async () => {
    const f = write(
      'pad.jsonl',
      lines([
        { x: [1, 2, 3], y: [1, 0] },
        { x: [4], y: [1, 1] },
        { x: [5, 6], y: [0, 0] },
      ]),
    );
    const d = await loadDataset(f, { pad: true, splits: { train: 3, val: 0, test: 0 } });
    expect(d.info).toMatchObject({ length: 3, multiLabel: true, numClasses: 2 });
    expect(d.info.classBalance.train).toEqual([2, 1]);
    expect(Array.from(d.train.example(1).x)).toEqual([4, 0, 0]);
    expect(Array.from(d.train.example(1).y as Float32Array)).toEqual([1, 1]);
  });
});

describe('bad input names the file and the problem', () => {
  const goodY = () => write('ok.y.npy', npy('<i4', [4], new Int32Array([0, 1, 0, 1])));
  const fails = async (spec: string, why: RegExp | string, opts = {}) => {
    await expect(loadDataset(spec, opts)).rejects.toThrow(why);
  };

  it('wrong magic header', async () => {
    const x = write('magic.x.npy', 'x,y\n1,2\n');
    await fails('m', /magic\.x\.npy: not a \.npy file \(wrong magic header/, { x, y: goodY() });
  });

  it('unsupported dtype', async () => {
    const x = write('cplx.x.npy', npy('<c8', [4, 1], new Float32Array(8)));
    await fails('c', /cplx\.x\.npy: unsupported dtype "<c8"/, { x, y: goodY() });
  });

  it('shape mismatch between x and y', async () => {
    const x = write('mis.x.npy', npy('<f4', [5, 2], new Float32Array(10)));
    await fails(
      'm',
      /shape mismatch: .*mis\.x\.npy has 5 examples \(shape \(5, 2\)\) but .*ok\.y\.npy has 4 \(shape \(4\)\)/,
      {
        x,
        y: goodY(),
      },
    );
  });

  it('ragged sequences and ragged features in .jsonl', async () => {
    const f = write('ragged.jsonl', '{"x": [1, 2, 3], "y": 0}\n{"x": [1, 2], "y": 1}\n');
    await fails(f, /ragged\.jsonl line 2: ragged sequences: x has 2 steps, line 1 has 3/);
    const g = write('ragged2.jsonl', '{"x": [[1, 2], [3, 4]], "y": 0}\n{"x": [[1, 2], [3]], "y": 1}\n');
    await fails(g, /ragged2\.jsonl line 2: ragged features: a step has 1 values, line 1 has 2/);
  });

  it('labels out of range', async () => {
    const x = write('lab.x.npy', npy('<f4', [4, 2], new Float32Array(8)));
    const neg = write('neg.y.npy', npy('<i4', [4], new Int32Array([0, 1, -1, 0])));
    await fails('l', /neg\.y\.npy: label -1 of example 2 is out of range \(≥ 0\)/, { x, y: neg });
    await fails('l', /ok\.y\.npy: label 1 of example 1 is out of range \(0\.\.0\)/, { x, y: goodY(), numClasses: 1 });
    const j = write('lab.jsonl', '{"x": [1], "y": 0}\n{"x": [2], "y": 7}\n');
    await fails(j, /lab\.jsonl \(y\): label 7 of example 1 is out of range \(0\.\.4\)/, { numClasses: 5 });
    const hot = write('hot.y.npy', npy('<f4', [4, 2], new Float32Array([1, 0, 0, 2, 0, 0, 1, 1])));
    await fails('h', /hot\.y\.npy: multi-hot y must hold 0 or 1, got 2 at example 1/, { x, y: hot });
    const fy = write('float.y.npy', npy('<f4', [4], new Float32Array([0, 1, 0, 1])));
    await fails('f', /float\.y\.npy: y must hold integer class ids, not floats/, { x, y: fy });
  });

  it('empty files', async () => {
    const x = write('empty.x.npy', '');
    await fails('e', /empty\.x\.npy: empty file/, { x, y: goodY() });
    const zero = write('zero.x.npy', npy('<f4', [0, 3], new Float32Array(0)));
    await fails('z', /zero\.x\.npy: empty \(shape \(0, 3\)\)/, { x: zero, y: goodY() });
    const j = write('empty.jsonl', '\n\n');
    await fails(j, /empty\.jsonl: empty file/);
  });

  it('other shapes, values and names that cannot be read', async () => {
    const x3 = write('int3.x.npy', npy('<i4', [4, 2, 2], new Int32Array(16)));
    await fails('i', /int3\.x\.npy: integer x is read as token ids and must be \[N, L\]/, { x: x3, y: goodY() });
    const x1 = write('one.x.npy', npy('<f4', [4], new Float32Array(4)));
    await fails('o', /one\.x\.npy: x must be \[N, L\] or \[N, L, D\], got shape \(4\)/, { x: x1, y: goodY() });
    const nan = write('nan.x.npy', npy('<f4', [4, 2], new Float32Array([0, 0, 0, 0, 0, NaN, 0, 0])));
    await fails('n', /nan\.x\.npy: x holds NaN at example 2, step 1/, { x: nan, y: goodY() });
    const tok = write('tok2.x.npy', npy('<i4', [4, 2], new Int32Array([0, 1, 2, 9, 0, 0, 0, 0])));
    await fails('t', /tok2\.x\.npy: token id 9 is out of range for vocabSize 5/, { x: tok, y: goodY(), vocabSize: 5 });
    await fails(join(dir, 'nothing'), /unknown dataset ".*nothing": not one of smnist/);
    await fails(join(dir, 'lonely.npy'), /lonely\.npy: name the pair as NAME\.x\.npy \+ NAME\.y\.npy/);
    write('noy.x.npy', npy('<f4', [4, 2], new Float32Array(8)));
    await fails(join(dir, 'noy'), /noy\.y\.npy: cannot read the y file \(no such file\)/);
    const bad = write('bad.jsonl', '{"x": [1], "y": 0}\n{"x": [1], "y": 0\n');
    await fails(bad, /bad\.jsonl line 2: not valid JSON/);
    const mixed = write('mixed.jsonl', '{"x": [1, [2]], "y": 0}\n');
    await fails(mixed, /mixed\.jsonl line 1: "x" must be numbers or arrays of numbers/);
    const noy = write('noy.jsonl', '{"x": [1]}\n');
    await fails(noy, /noy\.jsonl line 1: "y" must be an integer class id or a multi-hot array/);
    await fails('smnist', /dataset option splits\.train must be an integer ≥ 1/, { splits: { train: 0 } });
  });
});
