/**
 * One table of tensor element types, shared by the agent (onnxruntime feeds, the local inference API) and
 * the host (.npy files): onnxruntime's tensor type name ↔ NumPy's type code ↔ the typed array that holds it.
 */

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface TypedArrayCtor {
  new (length: number): TypedArray;
  new (buffer: ArrayBuffer): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
}

export interface DtypeInfo {
  /** onnxruntime's tensor type name (float32, int64, bool, …), as its Tensor class and metadata spell it. */
  name: string;
  /** NumPy's type code without the byte-order mark: kind letter + item size (f4, i8, b1). */
  npy: string;
  /** The array that holds the elements (bool as one byte each, float16 as its raw 16-bit patterns). */
  array: TypedArrayCtor;
  kind: 'float' | 'int' | 'bool';
  /** Elements are bigint (64-bit integers). */
  bigint: boolean;
  /** Elements are IEEE half bit patterns in a Uint16Array: Node 20 has no Float16Array. */
  halfBits: boolean;
}

const entry = (name: string, npy: string, array: TypedArrayCtor, kind: DtypeInfo['kind']): DtypeInfo => ({
  name,
  npy,
  array,
  kind,
  bigint: array === (BigInt64Array as unknown) || array === (BigUint64Array as unknown),
  halfBits: name === 'float16',
});

/** Every element type the project reads or feeds, in the order error messages list them. */
export const DTYPES: readonly DtypeInfo[] = Object.freeze([
  entry('float32', 'f4', Float32Array, 'float'),
  entry('float64', 'f8', Float64Array, 'float'),
  entry('float16', 'f2', Uint16Array, 'float'),
  entry('int8', 'i1', Int8Array, 'int'),
  entry('uint8', 'u1', Uint8Array, 'int'),
  entry('int16', 'i2', Int16Array, 'int'),
  entry('uint16', 'u2', Uint16Array, 'int'),
  entry('int32', 'i4', Int32Array, 'int'),
  entry('uint32', 'u4', Uint32Array, 'int'),
  entry('int64', 'i8', BigInt64Array as unknown as TypedArrayCtor, 'int'),
  entry('uint64', 'u8', BigUint64Array as unknown as TypedArrayCtor, 'int'),
  entry('bool', 'b1', Uint8Array, 'bool'),
]);

const BY_NAME = new Map(DTYPES.map((d) => [d.name, d]));
const BY_NPY = new Map(DTYPES.map((d) => [d.npy, d]));

/** The entry for an onnxruntime type name, or undefined (string, complex64, …). */
export function findDtype(name: string): DtypeInfo | undefined {
  return BY_NAME.get(name);
}

/** The entry for a NumPy type code (byte-order mark stripped), or undefined. */
export function findNpyDtype(code: string): DtypeInfo | undefined {
  return BY_NPY.get(code);
}

/** The entry for an onnxruntime type name; an unknown name is an error that lists the known ones. */
export function dtypeInfo(name: string): DtypeInfo {
  const d = BY_NAME.get(name);
  if (!d) throw new Error(`unknown tensor dtype "${name}" (known: ${DTYPES.map((x) => x.name).join(', ')})`);
  return d;
}

/** Item size in bytes. */
export function dtypeBytes(d: DtypeInfo): number {
  return d.array.BYTES_PER_ELEMENT;
}
