import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { sha256Hex } from '@s4op/shared';
import type { Dataset, InputKind } from './dataset.js';
import { parseJsonl } from './jsonl.js';
import { parseNpy, type NpyArray } from './npy.js';
import { DataError, type ParsedOptions } from './options.js';
import { assembleDataset, defaultFractions, resolveSplitSizes, splitIndices } from './splits.js';
import { tokenArray, type ExampleStore, type XArray } from './store.js';

/**
 * User data: a .npy pair (x as [N, L] or [N, L, D]; y as [N] class ids or [N, C] multi-hot) or one .jsonl
 * file of {"x": [...], "y": ...} lines. Float x is continuous input, integer x is token ids.
 */

/** An n-d array as read from either format, before validation. */
interface RawArray {
  shape: number[];
  kind: NpyArray['kind'];
  data: ArrayLike<number | bigint>;
}

type Sources = { format: 'npy'; x: string; y: string } | { format: 'jsonl'; file: string };

const BUILTINS = 'smnist, smnist14, psmnist, psmnist14, listops';

function resolveSources(spec: string, o: ParsedOptions): Sources {
  if (o.x !== undefined || o.y !== undefined) {
    if (o.x === undefined || o.y === undefined) throw new DataError('give both the x and the y .npy file');
    return { format: 'npy', x: o.x, y: o.y };
  }
  if (spec.endsWith('.jsonl')) return { format: 'jsonl', file: spec };
  if (spec.endsWith('.x.npy')) return { format: 'npy', x: spec, y: `${spec.slice(0, -'.x.npy'.length)}.y.npy` };
  if (spec.endsWith('.npy')) {
    throw new DataError(
      `${spec}: name the pair as NAME.x.npy + NAME.y.npy (then give NAME), or pass x and y explicitly`,
    );
  }
  if (existsSync(`${spec}.x.npy`)) return { format: 'npy', x: `${spec}.x.npy`, y: `${spec}.y.npy` };
  throw new DataError(`unknown dataset "${spec}": not one of ${BUILTINS}, and no ${spec}.x.npy or .jsonl file`);
}

async function readBytes(file: string, role: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(`${file}: cannot read the ${role} file (${code === 'ENOENT' ? 'no such file' : code})`);
  }
}

function checkHashes(o: ParsedOptions, actual: Record<string, string>, files: Record<string, string>): void {
  for (const [role, want] of Object.entries(o.sha256 ?? {})) {
    if (actual[role] !== undefined && actual[role] !== want) {
      throw new DataError(
        `${files[role]}: contents changed since the dataset spec was made (sha256 ${actual[role]}, expected ${want})`,
      );
    }
  }
}

export async function loadFiles(spec: string, o: ParsedOptions): Promise<Dataset> {
  const src = resolveSources(spec, o);
  let x: RawArray;
  let y: RawArray;
  let names: { x: string; y: string };
  let hashes: Record<string, string>;
  if (src.format === 'npy') {
    const [xb, yb] = await Promise.all([readBytes(src.x, 'x'), readBytes(src.y, 'y')]);
    hashes = { x: sha256Hex(xb), y: sha256Hex(yb) };
    checkHashes(o, hashes, src);
    x = parseNpy(xb, src.x);
    y = parseNpy(yb, src.y);
    names = src;
  } else {
    const bytes = await readBytes(src.file, 'data');
    hashes = { file: sha256Hex(bytes) };
    checkHashes(o, hashes, src);
    ({ x, y } = jsonlArrays(new TextDecoder().decode(bytes), src.file, o));
    names = { x: `${src.file} (x)`, y: `${src.file} (y)` };
  }
  const { store, vocabSize } = storeFromArrays(x, y, names, o);
  const sizes = resolveSplitSizes(store.count, o.splits, defaultFractions(store.count), spec);
  const indices = splitIndices(store.count, sizes, o.seed);
  return assembleDataset(store, indices, {
    name: spec,
    vocabSize,
    spec: {
      source: spec,
      ...(src.format === 'npy' ? { x: src.x, y: src.y } : {}),
      seed: o.seed,
      splits: sizes,
      sha256: hashes,
      ...(o.numClasses !== undefined ? { numClasses: o.numClasses } : {}),
      ...(o.vocabSize !== undefined ? { vocabSize: o.vocabSize } : {}),
      ...(o.inputKind !== undefined ? { inputKind: o.inputKind } : {}),
      ...(o.pad !== undefined ? { pad: o.pad } : {}),
    },
  });
}

/** Rows of a .jsonl file as arrays: checks that sequences agree in length (or pads) and in features per step. */
function jsonlArrays(text: string, file: string, o: ParsedOptions): { x: RawArray; y: RawArray } {
  const rows = parseJsonl(text, file);
  const n = rows.x.length;
  const nested = Array.isArray(rows.x[0][0]);
  const D = nested ? (rows.x[0][0] as number[]).length : 1;
  let L = 0;
  for (let i = 0; i < n; i++) {
    const r = rows.x[i];
    const where = `${file} line ${rows.lines[i]}`;
    if (Array.isArray(r[0]) !== nested) {
      throw new DataError(
        `${where}: x steps are ${nested ? 'numbers' : 'arrays'} but line ${rows.lines[0]} has ${nested ? 'arrays' : 'numbers'}`,
      );
    }
    if (nested) {
      for (const step of r as number[][]) {
        if (step.length !== D) {
          throw new DataError(
            `${where}: ragged features: a step has ${step.length} values, line ${rows.lines[0]} has ${D}`,
          );
        }
      }
    }
    if (!o.pad && r.length !== rows.x[0].length) {
      throw new DataError(
        `${where}: ragged sequences: x has ${r.length} steps, line ${rows.lines[0]} has ${rows.x[0].length} ` +
          '(pad them to one length, or pass pad to pad with 0 at the end)',
      );
    }
    L = Math.max(L, r.length);
  }
  const flat = rows.x.map((r) => (nested ? (r as number[][]).flat() : (r as number[])));
  const allInts = flat.every((r) => r.every((v) => Number.isInteger(v) && v >= 0));
  const kind: InputKind = o.inputKind ?? (!nested && allInts ? 'tokens' : 'continuous');
  if (kind === 'tokens' && (nested || !allInts)) {
    throw new DataError(`${file}: tokens must be one non-negative integer per step`);
  }
  const data = kind === 'tokens' ? new Int32Array(n * L) : new Float32Array(n * L * D);
  flat.forEach((r, i) => data.set(r, i * L * D));

  const multi = Array.isArray(rows.y[0]);
  let yRaw: RawArray;
  if (multi) {
    const C = (rows.y[0] as number[]).length;
    const yd = new Uint8Array(n * C);
    rows.y.forEach((v, i) => {
      if (!Array.isArray(v) || v.length !== C) {
        throw new DataError(
          `${file} line ${rows.lines[i]}: y must be a multi-hot array of ${C} like line ${rows.lines[0]}`,
        );
      }
      yd.set(v, i * C);
    });
    yRaw = { shape: [n, C], kind: 'int', data: yd };
  } else {
    const yd = new Float64Array(n);
    rows.y.forEach((v, i) => {
      if (typeof v !== 'number') {
        throw new DataError(`${file} line ${rows.lines[i]}: y must be a class id like line ${rows.lines[0]}`);
      }
      yd[i] = v;
    });
    yRaw = { shape: [n], kind: 'int', data: yd };
  }
  return {
    x: { shape: nested ? [n, L, D] : [n, L], kind: kind === 'tokens' ? 'int' : 'float', data },
    y: yRaw,
  };
}

const num = (v: number | bigint): number => (typeof v === 'bigint' ? Number(v) : v);
const shapeText = (s: number[]): string => `(${s.join(', ')})`;

/** Validates x and y together and fills the example store. */
function storeFromArrays(
  x: RawArray,
  y: RawArray,
  names: { x: string; y: string },
  o: ParsedOptions,
): { store: ExampleStore; vocabSize?: number } {
  if (x.shape.length !== 2 && x.shape.length !== 3) {
    throw new DataError(`${names.x}: x must be [N, L] or [N, L, D], got shape ${shapeText(x.shape)}`);
  }
  if (x.shape.some((d) => d === 0)) throw new DataError(`${names.x}: empty (shape ${shapeText(x.shape)})`);
  if (y.shape.length !== 1 && y.shape.length !== 2) {
    throw new DataError(`${names.y}: y must be [N] class ids or [N, C] multi-hot, got shape ${shapeText(y.shape)}`);
  }
  if (y.shape.some((d) => d === 0)) throw new DataError(`${names.y}: empty (shape ${shapeText(y.shape)})`);
  const [N, L] = x.shape;
  const D = x.shape[2] ?? 1;
  if (y.shape[0] !== N) {
    throw new DataError(
      `shape mismatch: ${names.x} has ${N} examples (shape ${shapeText(x.shape)}) but ${names.y} has ${y.shape[0]} (shape ${shapeText(y.shape)})`,
    );
  }

  const tokens = x.kind !== 'float';
  let xs: XArray;
  let vocabSize: number | undefined;
  if (tokens) {
    if (x.shape.length !== 2) {
      throw new DataError(
        `${names.x}: integer x is read as token ids and must be [N, L]; store continuous features as float32`,
      );
    }
    let max = 0;
    for (let i = 0; i < x.data.length; i++) {
      const v = num(x.data[i]);
      if (v < 0 || v > 0x7fffffff) {
        throw new DataError(
          `${names.x}: token id ${v} at example ${Math.floor(i / L)}, step ${i % L} is out of range (must be ≥ 0)`,
        );
      }
      if (v > max) max = v;
    }
    vocabSize = o.vocabSize ?? max + 1;
    if (max >= vocabSize) {
      throw new DataError(`${names.x}: token id ${max} is out of range for vocabSize ${vocabSize}`);
    }
    xs = tokenArray(x.data.length, vocabSize);
    for (let i = 0; i < x.data.length; i++) xs[i] = num(x.data[i]);
  } else {
    xs = new Float32Array(x.data.length);
    for (let i = 0; i < x.data.length; i++) {
      const v = num(x.data[i]);
      if (!Number.isFinite(v)) {
        const step = Math.floor(i / D) % L;
        throw new DataError(`${names.x}: x holds ${v} at example ${Math.floor(i / (L * D))}, step ${step}`);
      }
      xs[i] = v;
    }
  }

  let ys: Int32Array | Float32Array;
  let numClasses: number;
  const multiLabel = y.shape.length === 2;
  if (multiLabel) {
    numClasses = y.shape[1];
    if (o.numClasses !== undefined && o.numClasses !== numClasses) {
      throw new DataError(`${names.y}: multi-hot y has ${numClasses} columns but numClasses is ${o.numClasses}`);
    }
    ys = new Float32Array(y.data.length);
    for (let i = 0; i < y.data.length; i++) {
      const v = num(y.data[i]);
      if (v !== 0 && v !== 1) {
        throw new DataError(
          `${names.y}: multi-hot y must hold 0 or 1, got ${v} at example ${Math.floor(i / numClasses)}`,
        );
      }
      ys[i] = v;
    }
  } else {
    if (y.kind === 'float') {
      throw new DataError(`${names.y}: y must hold integer class ids, not floats (cast it, e.g. y.astype(np.int64))`);
    }
    ys = new Int32Array(N);
    let max = 0;
    for (let i = 0; i < N; i++) {
      const v = num(y.data[i]);
      if (!Number.isInteger(v) || v < 0 || (o.numClasses !== undefined && v >= o.numClasses) || v > 0x7fffffff) {
        const range = o.numClasses !== undefined ? `0..${o.numClasses - 1}` : '≥ 0';
        throw new DataError(`${names.y}: label ${v} of example ${i} is out of range (${range})`);
      }
      ys[i] = v;
      if (v > max) max = v;
    }
    numClasses = o.numClasses ?? max + 1;
  }
  return {
    store: {
      count: N,
      length: L,
      inputSize: tokens ? 1 : D,
      inputKind: tokens ? 'tokens' : 'continuous',
      x: xs,
      numClasses,
      multiLabel,
      y: ys,
    },
    vocabSize,
  };
}
