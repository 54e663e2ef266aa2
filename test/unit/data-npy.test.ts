import { describe, expect, it } from 'vitest';
import { parseNpy, type NpyArray } from '../../host/src/data/npy.js';

/** Files written by NumPy 2.4 (np.save / np.lib.format.write_array), with NumPy's own .tolist() of each. */
const NUMPY: Record<string, { b64: string; shape: number[]; values: number[] | null }> = {
  f4_2x3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAA/AACgvwAAQEBvEoM6gJYYSgAAAIA=',
    shape: [2, 3],
    values: [0.5, -1.25, 3.0, 0.0010000000474974513, 2500000.0, -0.0],
  },
  i8_4: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoDAAAAAAAAAP7/////////////////HwAAAAAAAAAAAA==',
    shape: [4],
    values: [3.0, -2.0, 9007199254740991.0, 0.0],
  },
  be_i2_2x2: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPmkyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAf7Uf/+AAA==',
    shape: [2, 2],
    values: [1.0, -300.0, 32767.0, -32768.0],
  },
  be_f8_3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPmY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/+AAAAAAAAMACAAAAAAAAfjfkPIgAdZw=',
    shape: [3],
    values: [1.5, -2.25, 1e300],
  },
  fortran_f8_2x3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAADwPwAAAAAAABBAAAAAAAAAAEAAAAAAAAAUQAAAAAAAAAhAAAAAAAAAGEA=',
    shape: [2, 3],
    values: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
  },
  fortran_i4_2x3x2: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMywgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAABgAAAAIAAAAIAAAABAAAAAoAAAABAAAABwAAAAMAAAAJAAAABQAAAAsAAAA=',
    shape: [2, 3, 2],
    values: [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
  },
  u1_3x2: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoA/wcICQo=',
    shape: [3, 2],
    values: [0.0, 255.0, 7.0, 8.0, 9.0, 10.0],
  },
  f2_3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAOADA/3s=',
    shape: [3],
    values: [0.5, -2.0, 65504.0],
  },
  b1_3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAE=',
    shape: [3],
    values: [1.0, 0.0, 1.0],
  },
  v2_f4_2: {
    b64: 'k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AAAAQA==',
    shape: [2],
    values: [1.0, 2.0],
  },
  c8_2: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGM4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AAAAQAAAAAAAAEBA',
    shape: [2],
    values: null,
  },
  U3_2: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPFUzJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAphAAAAYgAAAAAAAABjAAAAZAAAAGUAAAA=',
    shape: [2],
    values: null,
  },
  O_2: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfE8nLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqABJWXAAAAAAAAAIwWbnVtcHkuX2NvcmUubXVsdGlhcnJheZSMDF9yZWNvbnN0cnVjdJSTlIwFbnVtcHmUjAduZGFycmF5lJOUSwCFlEMBYpSHlFKUKEsBSwKFlGgDjAVkdHlwZZSTlIwCTziUiYiHlFKUKEsDjAF8lE5OTkr/////Sv////9LP3SUYoldlChdlChLAUsCZV2USwNhZXSUYi4=',
    shape: [2],
    values: null,
  },
  struct_2: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiBbKCdhJywgJzxpNCcpLCAoJ2InLCAnPGY0JyldLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMSwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAAAAAAQA==',
    shape: [1],
    values: null,
  },
  f4_0x5: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDAsIDUpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo=',
    shape: [0, 5],
    values: [],
  },
};

const bytes = (name: string): Uint8Array => new Uint8Array(Buffer.from(NUMPY[name].b64, 'base64'));
const asNumbers = (data: ArrayLike<number | bigint>): number[] =>
  Array.from(data as ArrayLike<number>, (v) => Number(v));

describe('.npy reader against files written by NumPy', () => {
  const cases: [string, string, NpyArray['kind']][] = [
    ['f4_2x3', 'f4', 'float'],
    ['i8_4', 'i8', 'int'],
    ['be_i2_2x2', 'i2', 'int'],
    ['be_f8_3', 'f8', 'float'],
    ['fortran_f8_2x3', 'f8', 'float'],
    ['fortran_i4_2x3x2', 'i4', 'int'],
    ['u1_3x2', 'u1', 'int'],
    ['f2_3', 'f4', 'float'],
    ['b1_3', 'b1', 'bool'],
    ['v2_f4_2', 'f4', 'float'],
    ['f4_0x5', 'f4', 'float'],
  ];
  it.each(cases)('%s: shape, dtype and values in C order', (name, dtype, kind) => {
    const a = parseNpy(bytes(name), `${name}.npy`);
    expect(a.shape).toEqual(NUMPY[name].shape);
    expect(a.dtype).toBe(dtype);
    expect(a.kind).toBe(kind);
    const got = asNumbers(a.data);
    const want = NUMPY[name].values!;
    expect(got.length).toBe(want.length);
    // Exact: every value is representable in its dtype and NumPy's tolist() widens exactly to float64.
    got.forEach((v, i) => expect(Object.is(v, want[i]) || v === want[i]).toBe(true));
  });

  it('keeps int64 values exact up to 2^53 - 1', () => {
    const a = parseNpy(bytes('i8_4'), 'i8.npy');
    expect(a.data).toBeInstanceOf(BigInt64Array);
    expect((a.data as BigInt64Array)[2]).toBe(9007199254740991n);
  });
});

describe('.npy reader errors name the file and the problem', () => {
  const bad = (b: Uint8Array) => () => parseNpy(b, '/data/bad.npy');

  it('empty file', () => {
    expect(bad(new Uint8Array(0))).toThrow('/data/bad.npy: empty file');
  });

  it('wrong magic header', () => {
    expect(bad(new TextEncoder().encode('x,y\n1,2\n'))).toThrow(
      /\/data\/bad\.npy: not a \.npy file \(wrong magic header/,
    );
    const b = bytes('f4_2x3');
    b[1] = 0x4f; // "\x93OUMPY"
    expect(bad(b)).toThrow(/wrong magic header/);
  });

  it.each(['c8_2', 'U3_2', 'O_2', 'struct_2'])('unsupported dtype (%s)', (name) => {
    expect(bad(bytes(name))).toThrow(/\/data\/bad\.npy: unsupported dtype/);
  });

  it('object arrays hint at ragged sequences', () => {
    expect(bad(bytes('O_2'))).toThrow(/ragged sequences/);
  });

  it('data shorter or longer than the shape says', () => {
    const b = bytes('f4_2x3');
    expect(bad(b.subarray(0, b.length - 4))).toThrow(/data holds 20 bytes but shape \(2, 3\) of <f4 needs 24/);
    const longer = new Uint8Array(b.length + 4);
    longer.set(b);
    expect(bad(longer)).toThrow(/data holds 28 bytes/);
  });

  it('truncated header and unknown version', () => {
    expect(bad(bytes('f4_2x3').subarray(0, 40))).toThrow(/truncated \.npy header/);
    const b = bytes('f4_2x3');
    b[6] = 9;
    expect(bad(b)).toThrow(/unsupported \.npy version 9/);
  });
});
