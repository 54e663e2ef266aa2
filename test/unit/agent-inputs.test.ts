import { describe, expect, it } from 'vitest';
import { InputError, resolveShape, synthesiseFeeds, synthesiseInput } from '@s4op/agent';
import { DEFAULT_SETTINGS } from '@s4op/shared';

const S = DEFAULT_SETTINGS;

describe('input synthesis', () => {
  it('fills fixed, named and unnamed dimensions', () => {
    const input = { name: 'x', isTensor: true, dtype: 'float32', shape: [2, 'batch', 'seq', -1, 7] };
    expect(resolveShape(input, { ...S, dims: { batch: 4 }, default_dim: 3 })).toEqual([2, 4, 3, 3, 7]);
  });

  it('makes typed data of the right size and kind for each dtype', () => {
    const cases: [string, unknown][] = [
      ['float32', Float32Array],
      ['float64', Float64Array],
      ['float16', Uint16Array],
      ['int8', Int8Array],
      ['uint8', Uint8Array],
      ['int16', Int16Array],
      ['uint16', Uint16Array],
      ['int32', Int32Array],
      ['uint32', Uint32Array],
      ['int64', BigInt64Array],
      ['uint64', BigUint64Array],
      ['bool', Uint8Array],
    ];
    for (const [dtype, ctor] of cases) {
      const t = synthesiseInput({ name: 'i', isTensor: true, dtype, shape: [3, 'n'] }, { ...S, dims: { n: 5 } });
      expect(t.data, dtype).toBeInstanceOf(ctor);
      expect(t.data.length).toBe(15);
      expect(t.dims).toEqual([3, 5]);
    }
  });

  it('gives deterministic floats spread over [-1, 1) and zero integers', () => {
    const a = synthesiseInput({ name: 'x', isTensor: true, dtype: 'float32', shape: [10_000] }, S).data as Float32Array;
    const b = synthesiseInput({ name: 'x', isTensor: true, dtype: 'float32', shape: [10_000] }, S).data as Float32Array;
    expect(Array.from(a)).toEqual(Array.from(b));
    let lo = Infinity,
      hi = -Infinity,
      sum = 0;
    for (const v of a) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      sum += v;
    }
    expect(lo).toBeGreaterThanOrEqual(-1);
    expect(hi).toBeLessThan(1);
    expect(hi - lo).toBeGreaterThan(1.9);
    expect(Math.abs(sum / a.length)).toBeLessThan(0.05);
    const ints = synthesiseInput({ name: 'k', isTensor: true, dtype: 'int64', shape: [4] }, S).data as BigInt64Array;
    expect(Array.from(ints)).toEqual([0n, 0n, 0n, 0n]);
  });

  it('honours whole shapes and rejects ones the model cannot take', () => {
    const input = { name: 'x', isTensor: true, dtype: 'float32', shape: ['batch', 8] };
    expect(synthesiseInput(input, { ...S, shapes: { x: [6, 8] } }).dims).toEqual([6, 8]);
    expect(() => synthesiseInput(input, { ...S, shapes: { x: [6, 9] } })).toThrow(/dimension 1 is fixed at 8/);
    expect(() => synthesiseInput(input, { ...S, shapes: { x: [6, 8, 1] } })).toThrow(
      /rank 3, the model declares rank 2/,
    );
    expect(() => synthesiseFeeds([input], { ...S, shapes: { z: [1] } })).toThrow(
      /names input "z", which the model does not have/,
    );
  });

  it('refuses strings, non-tensors and absurd sizes with InputError naming the input', () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err(() => synthesiseInput({ name: 's', isTensor: true, dtype: 'string', shape: [1] }, S))).toMatch(
      /input "s" has dtype string/,
    );
    expect(err(() => synthesiseInput({ name: 'q', isTensor: false, shape: [] }, S))).toMatch(
      /input "q" is not a tensor/,
    );
    expect(
      err(() => synthesiseInput({ name: 'big', isTensor: true, dtype: 'float32', shape: [1 << 20, 1 << 20] }, S)),
    ).toMatch(/input "big" .* needs \d+ elements/);
  });
});
