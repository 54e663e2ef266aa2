import { dtypeBytes, findNpyDtype, type TypedArray, type TypedArrayCtor } from '@s4op/shared';
import { DataError } from './options.js';

/**
 * A small reader of NumPy's .npy format (versions 1–3): magic "\x93NUMPY", version bytes, a little-endian
 * header length, a Python-dict header with descr / fortran_order / shape, then the raw data.
 * (npyjs exists, but reads through fetch, does not check the data length against the shape and cannot name
 * the file in its errors; this one is ~100 lines and tested against files written by NumPy.)
 */
export type NpyTypedArray = TypedArray;

export interface NpyArray {
  /** NumPy kind + item size, e.g. 'f4', 'i8', 'u1', 'b1' (float16 is widened and reported as 'f4'). */
  dtype: string;
  kind: 'float' | 'int' | 'bool';
  shape: number[];
  /** Always C (row-major) order; Fortran-order files are transposed on read. */
  data: NpyTypedArray;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  const fail = (why: string): never => {
    throw new DataError(`${file}: ${why}`);
  };
  if (bytes.length === 0) fail('empty file');
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    fail('not a .npy file (wrong magic header; expected "\\x93NUMPY")');
  }
  const major = bytes[6];
  if (major < 1 || major > 3) fail(`unsupported .npy version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) fail('truncated .npy header');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLen;
  if (bytes.length < dataStart) fail('truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  if (descr === undefined) {
    fail(/'descr'\s*:\s*\[/.test(header) ? 'unsupported dtype: structured arrays' : 'malformed .npy header (no descr)');
  }
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (fortran === undefined || shapeText === undefined) fail('malformed .npy header (no fortran_order or shape)');
  const shape = shapeText!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`malformed shape (${shapeText})`);

  const order = descr![0];
  const code = '<>|='.includes(order) ? descr!.slice(1) : descr!;
  const type = findNpyDtype(code);
  if (!type) {
    fail(
      `unsupported dtype "${descr}" (use float16/32/64, integers or bool` +
        `${code.startsWith('O') ? '; object arrays usually mean ragged sequences: pad them to one length' : ''})`,
    );
  }
  const itemSize = dtypeBytes(type!);
  const count = shape.reduce((a, b) => a * b, 1);
  const have = bytes.length - dataStart;
  if (have !== count * itemSize) {
    fail(`data holds ${have} bytes but shape (${shape.join(', ')}) of ${descr} needs ${count * itemSize}`);
  }

  // Copy into an aligned buffer, swapping big-endian items to the machine's little-endian order.
  const raw = bytes.slice(dataStart);
  if (order === '>' && itemSize > 1) {
    for (let i = 0; i < raw.length; i += itemSize) raw.subarray(i, i + itemSize).reverse();
  }
  let data: NpyTypedArray = new type!.array(raw.buffer);
  if (type!.halfBits) data = Float32Array.from(data as Uint16Array, halfToFloat);
  if (fortran === 'True' && shape.length > 1) data = fortranToC(data, shape);
  return { dtype: type!.halfBits ? 'f4' : code, kind: type!.kind, shape, data };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Column-major data of `shape` → row-major. */
function fortranToC(src: NpyTypedArray, shape: number[]): NpyTypedArray {
  const out = new (src.constructor as TypedArrayCtor)(new ArrayBuffer(src.byteLength));
  const n = shape.length;
  const idx = new Array<number>(n).fill(0);
  for (let c = 0; c < src.length; c++) {
    // Fortran offset of the current C-order multi-index.
    let f = 0;
    for (let d = n - 1; d >= 0; d--) f = f * shape[d] + idx[d];
    (out as unknown as unknown[])[c] = (src as unknown as unknown[])[f];
    for (let d = n - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
