import { describe, expect, it } from 'vitest';
import { DTYPES, dtypeBytes, dtypeInfo, findDtype, findNpyDtype } from '@s4op/shared';

// Written out from NumPy's and onnxruntime's own documentation, independently of the table.
const EXPECTED: [name: string, npy: string, ctor: unknown, bytes: number][] = [
  ['float32', 'f4', Float32Array, 4],
  ['float64', 'f8', Float64Array, 8],
  ['float16', 'f2', Uint16Array, 2],
  ['int8', 'i1', Int8Array, 1],
  ['uint8', 'u1', Uint8Array, 1],
  ['int16', 'i2', Int16Array, 2],
  ['uint16', 'u2', Uint16Array, 2],
  ['int32', 'i4', Int32Array, 4],
  ['uint32', 'u4', Uint32Array, 4],
  ['int64', 'i8', BigInt64Array, 8],
  ['uint64', 'u8', BigUint64Array, 8],
  ['bool', 'b1', Uint8Array, 1],
];

describe('shared dtype table', () => {
  it('holds exactly the expected dtypes, in order', () => {
    expect(DTYPES.map((d) => d.name)).toEqual(EXPECTED.map((e) => e[0]));
  });

  it('round-trips every dtype: name → npy code → name, with the right array and item size', () => {
    for (const [name, npy, ctor, bytes] of EXPECTED) {
      const d = dtypeInfo(name);
      expect(d.npy, name).toBe(npy);
      expect(findNpyDtype(d.npy)?.name, npy).toBe(name);
      expect(findDtype(name)).toBe(d);
      expect(d.array, name).toBe(ctor);
      expect(dtypeBytes(d), name).toBe(bytes);
      // The item size NumPy's code spells out agrees with the array's.
      expect(Number(npy.slice(1)), name).toBe(bytes);
      expect(d.bigint, name).toBe(name === 'int64' || name === 'uint64');
      expect(d.halfBits, name).toBe(name === 'float16');
      expect(d.kind, name).toBe(name.startsWith('float') ? 'float' : name === 'bool' ? 'bool' : 'int');
    }
  });

  it('round-trips values through raw little-endian bytes for every dtype', () => {
    for (const d of DTYPES) {
      const a = new d.array(3);
      const values =
        d.kind === 'bool' ? [1, 0, 1] : d.halfBits ? [0x3c00, 0xc000, 0x7bff] : [1, 2, d.name.startsWith('u') ? 7 : -3];
      values.forEach((v, i) => ((a as unknown as (number | bigint)[])[i] = d.bigint ? BigInt(v) : v));
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
      expect(bytes.length, d.name).toBe(3 * dtypeBytes(d));
      const back = new d.array(bytes.buffer);
      expect(Array.from(back as ArrayLike<number | bigint>, Number), d.name).toEqual(values);
    }
  });

  it('refuses an unknown dtype by name and lists the known ones', () => {
    expect(() => dtypeInfo('string')).toThrow(
      /unknown tensor dtype "string" \(known: float32, float64, float16, int8, .*, bool\)/,
    );
    expect(() => dtypeInfo('constructor')).toThrow(/unknown tensor dtype "constructor"/);
    expect(findDtype('complex64')).toBeUndefined();
    expect(findNpyDtype('O')).toBeUndefined();
    expect(findNpyDtype('c8')).toBeUndefined();
  });
});
