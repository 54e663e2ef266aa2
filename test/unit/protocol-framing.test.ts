import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import {
  CHUNK_HEADER_BYTES,
  ChunkAssembler,
  FramingError,
  constantTimeEqual,
  decodeChunk,
  encodeChunk,
  encodeModel,
  sha256Hex,
} from '@s4op/shared';

function errorOf(fn: () => unknown): FramingError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FramingError) return err;
    throw err;
  }
  throw new Error('expected a FramingError');
}

describe('model chunk framing', () => {
  it('round-trips a model through chunk frames of several sizes', () => {
    const model = randomBytes(100_003);
    for (const size of [1000, 65_536, 100_003, 1 << 20]) {
      const frames = encodeModel(model, size);
      expect(frames.length).toBe(Math.ceil(model.length / size));
      const asm = new ChunkAssembler(sha256Hex(model));
      let out: Uint8Array | null = null;
      for (const f of frames) out = asm.push(decodeChunk(f));
      expect(Buffer.compare(Buffer.from(out!), model)).toBe(0);
    }
  });

  it('sends an empty model as one empty chunk', () => {
    const frames = encodeModel(new Uint8Array(0));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.length).toBe(CHUNK_HEADER_BYTES);
    expect(new ChunkAssembler(sha256Hex(new Uint8Array(0))).push(decodeChunk(frames[0]!))).toHaveLength(0);
  });

  it('decodes the header fields at their documented offsets', () => {
    const sha = sha256Hex(Buffer.from('x'));
    const f = encodeChunk({ sha256: sha, index: 2, count: 5, total: 4242, payload: new Uint8Array([9, 8]) });
    expect(Buffer.from(f.subarray(0, 4)).toString()).toBe('S4CH');
    expect(Buffer.from(f.subarray(8, 40)).toString('hex')).toBe(sha);
    const view = new DataView(f.buffer);
    expect([view.getUint32(40), view.getUint32(44), view.getUint32(48)]).toEqual([2, 5, 4242]);
    expect(decodeChunk(f)).toMatchObject({ sha256: sha, index: 2, count: 5, total: 4242 });
  });

  it('rejects frames that are short, foreign, of another version, or with impossible indices', () => {
    const good = encodeModel(randomBytes(10))[0]!;
    expect(errorOf(() => decodeChunk(good.subarray(0, 20))).message).toMatch(/shorter than the 52-byte chunk header/);
    const foreign = good.slice();
    foreign[0] = 0x58;
    expect(errorOf(() => decodeChunk(foreign)).message).toMatch(/does not start with "S4CH"/);
    const v2 = good.slice();
    v2[4] = 2;
    expect(errorOf(() => decodeChunk(v2)).message).toMatch(/version 2/);
    const idx = good.slice();
    new DataView(idx.buffer).setUint32(40, 7);
    expect(errorOf(() => decodeChunk(idx)).message).toMatch(/index 7 is not below its count 1/);
    const zero = good.slice();
    new DataView(zero.buffer).setUint32(44, 0);
    expect(errorOf(() => decodeChunk(zero)).message).toMatch(/count of 0/);
  });

  it('refuses chunks out of order, foreign chunks, wrong sizes and corrupt bytes', () => {
    const model = randomBytes(5000);
    const sha = sha256Hex(model);
    const frames = encodeModel(model, 1000).map((f) => decodeChunk(f));
    const outOfOrder = new ChunkAssembler(sha);
    outOfOrder.push(frames[0]!);
    const e = errorOf(() => outOfOrder.push(frames[2]!));
    expect(e.code).toBe('chunk_order');
    expect(e.message).toMatch(/chunk 2 of .* arrived while chunk 1 was expected/);

    expect(errorOf(() => new ChunkAssembler(sha256Hex(Buffer.from('other'))).push(frames[0]!)).code).toBe('bad_frame');

    const corrupt = Buffer.from(model);
    corrupt[4321] ^= 0xff;
    const asm = new ChunkAssembler(sha);
    const bad = encodeModel(corrupt, 1000, sha).map((f) => decodeChunk(f));
    for (const c of bad.slice(0, -1)) asm.push(c);
    const h = errorOf(() => asm.push(bad[bad.length - 1]!));
    expect(h.code).toBe('hash_mismatch');
    expect(h.message).toContain(sha.slice(0, 12));

    const short = new ChunkAssembler(sha);
    const liar = { ...frames[0]!, count: 1 };
    expect(errorOf(() => short.push(liar)).code).toBe('size_mismatch');

    expect(errorOf(() => new ChunkAssembler(sha, 100).push(frames[0]!)).code).toBe('too_large');
  });

  it('compares tokens by value whatever their lengths', () => {
    expect(constantTimeEqual('secret', 'secret')).toBe(true);
    expect(constantTimeEqual('secreT', 'secret')).toBe(false);
    expect(constantTimeEqual('', 'secret')).toBe(false);
    expect(constantTimeEqual('secret-and-more', 'secret')).toBe(false);
  });
});
