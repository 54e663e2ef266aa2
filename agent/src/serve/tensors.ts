/**
 * Tensors of the local inference API: JSON (`{dims, data, dtype?}`) or raw little-endian bytes in, checked
 * against the model's declared inputs (name, dtype, rank, fixed dimensions, element count, finite values)
 * with errors that name the input and the problem; outputs back as JSON or raw bytes.
 */
import { DTYPES, dtypeBytes, type DtypeInfo } from '@s4op/shared';
import type { InputInfo, PlainTensor } from '../runtimes/runtime.js';

/** A request the API refuses; the message goes back to the caller as is (HTTP 400 unless told). */
export class ServeError extends Error {
  override name = 'ServeError';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Largest tensor one request may carry (elements). */
export const MAX_ELEMENTS = 1 << 26;

// float16 would arrive as numbers the API has no encoder for: the API feeds every other dtype of the table.
const FEEDABLE = DTYPES.filter((d) => !d.halfBits);

/** Checks dims against the declared shape: same rank, fixed sizes equal, every size a non-negative integer. */
export function checkDims(input: InputInfo, dims: unknown): number[] {
  if (!Array.isArray(dims) || !dims.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    throw new ServeError(
      'bad_shape',
      `input "${input.name}": dims must be a list of non-negative integers, got ${JSON.stringify(dims)?.slice(0, 100)}`,
    );
  }
  const declared = input.shape;
  if (declared.length && dims.length !== declared.length) {
    throw new ServeError(
      'bad_shape',
      `input "${input.name}": dims [${dims.join(', ')}] have rank ${dims.length}, the model declares rank ${declared.length} [${declared.join(', ')}]`,
    );
  }
  declared.forEach((d, i) => {
    if (typeof d === 'number' && d >= 0 && dims[i] !== d) {
      throw new ServeError(
        'bad_shape',
        `input "${input.name}": dims [${dims.join(', ')}] do not match the declared [${declared.join(', ')}] (dimension ${i} is fixed at ${d})`,
      );
    }
  });
  const n = (dims as number[]).reduce((a, b) => a * b, 1);
  if (n > MAX_ELEMENTS)
    throw new ServeError('too_large', `input "${input.name}": ${n} elements exceed the limit of ${MAX_ELEMENTS}`, 413);
  return dims as number[];
}

function dtypeOf(input: InputInfo): DtypeInfo {
  const dtype = input.dtype ?? 'unknown';
  const d = FEEDABLE.find((x) => x.name === dtype);
  if (!input.isTensor || !d)
    throw new ServeError(
      'unsupported_input',
      `input "${input.name}" has type ${dtype}, which this API cannot feed (supported: ${FEEDABLE.map((x) => x.name).join(', ')})`,
      422,
    );
  return d;
}

/** One input from its JSON form `{dims, data, dtype?}` (data flat, row-major). */
export function tensorFromJson(input: InputInfo, value: unknown): PlainTensor {
  const { name: dtype, array, kind, bigint } = dtypeOf(input);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ServeError('bad_input', `input "${input.name}" must be an object {"dims": [...], "data": [...]}`);
  }
  const v = value as { dims?: unknown; data?: unknown; dtype?: unknown };
  if (v.dtype !== undefined && v.dtype !== dtype)
    throw new ServeError(
      'bad_dtype',
      `input "${input.name}" is ${dtype} in the model, the request says ${JSON.stringify(v.dtype)}`,
    );
  const dims = checkDims(input, v.dims);
  const n = dims.reduce((a, b) => a * b, 1);
  if (!Array.isArray(v.data))
    throw new ServeError('bad_input', `input "${input.name}": data must be a flat list of numbers`);
  if (v.data.length !== n)
    throw new ServeError(
      'bad_shape',
      `input "${input.name}": data has ${v.data.length} values, dims [${dims.join(', ')}] need ${n}`,
    );
  const data = new array(n);
  for (let i = 0; i < n; i++) {
    const x = v.data[i] as unknown;
    if (typeof x !== 'number' && !(kind === 'bool' && typeof x === 'boolean'))
      throw new ServeError('bad_value', `input "${input.name}": data[${i}] is ${JSON.stringify(x)}, not a number`);
    const num = Number(x);
    if (!Number.isFinite(num)) throw new ServeError('bad_value', `input "${input.name}": data[${i}] is not finite`);
    if (kind !== 'float' && !Number.isInteger(num))
      throw new ServeError('bad_value', `input "${input.name}" is ${dtype}: data[${i}] = ${num} is not an integer`);
    if (bigint) (data as BigInt64Array)[i] = BigInt(num);
    else {
      (data as Float32Array)[i] = num;
      // Finite as a double but not in the input's type (1e39 is Infinity as float32; 300 wraps in a uint8).
      const stored = Number((data as Float32Array)[i]);
      if (kind === 'float' && !Number.isFinite(stored))
        throw new ServeError('bad_value', `input "${input.name}" is ${dtype}: data[${i}] = ${num} is out of its range`);
      if (kind !== 'float' && stored !== num)
        throw new ServeError('bad_value', `input "${input.name}" is ${dtype}: data[${i}] = ${num} is out of its range`);
    }
  }
  return { dtype, data, dims };
}

/** One input from raw little-endian bytes and a shape given beside them. */
export function tensorFromBytes(input: InputInfo, bytes: Uint8Array, dims: number[]): PlainTensor {
  const info = dtypeOf(input);
  const dtype = info.name;
  checkDims(input, dims);
  const n = dims.reduce((a, b) => a * b, 1);
  const want = n * dtypeBytes(info);
  if (bytes.length !== want)
    throw new ServeError(
      'bad_shape',
      `input "${input.name}": ${bytes.length} bytes sent, ${dtype} [${dims.join(', ')}] needs ${want}`,
    );
  const data = new info.array(n);
  new Uint8Array(data.buffer).set(bytes);
  if (data instanceof Float32Array || data instanceof Float64Array) {
    for (let i = 0; i < n; i++)
      if (!Number.isFinite(data[i]!))
        throw new ServeError('bad_value', `input "${input.name}": element ${i} is not finite`);
  }
  return { dtype, data, dims };
}

/** Every declared input must be given, and nothing else. */
export function checkFeedNames(inputs: InputInfo[], given: string[]): void {
  for (const name of given) {
    if (!inputs.some((i) => i.name === name))
      throw new ServeError(
        'unknown_input',
        `the model has no input "${name}" (inputs: ${inputs.map((i) => i.name).join(', ')})`,
      );
  }
  const missing = inputs.filter((i) => !given.includes(i.name)).map((i) => i.name);
  if (missing.length)
    throw new ServeError(
      'missing_input',
      `missing input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}`,
    );
}

export interface JsonTensor {
  dtype: string;
  dims: number[];
  data: (number | boolean)[];
}

export function tensorToJson(t: PlainTensor): JsonTensor {
  const data = Array.from(t.data as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? Number(x) : x));
  return { dtype: t.dtype, dims: [...t.dims], data: t.dtype === 'bool' ? data.map(Boolean) : data };
}

export function tensorBytes(t: PlainTensor): Buffer {
  const d = t.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** Parses "1,40,2" into dims. */
export function parseShape(text: string | null, what: string): number[] {
  if (text === null || text === '')
    throw new ServeError('bad_shape', `${what}: give the input's shape, e.g. ?shape=1,40,2`);
  const dims = text.split(',').map((s) => Number(s.trim()));
  if (!dims.every((d) => Number.isInteger(d) && d >= 0))
    throw new ServeError('bad_shape', `${what}: shape "${text}" is not a list of non-negative integers`);
  return dims;
}
