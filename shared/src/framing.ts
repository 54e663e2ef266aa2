/**
 * Binary frames that carry model bytes over the WebSocket, and their reassembly. JSON messages travel as
 * text frames; a model travels as numbered binary chunks so no base64 inflation and no single huge frame:
 *
 *   offset  size  field
 *   0       4     magic "S4CH"
 *   4       1     frame version (1)
 *   5       3     reserved, zero
 *   8       32    sha256 of the whole model (raw bytes)
 *   40      4     chunk index, big-endian u32 (0-based)
 *   44      4     chunk count, big-endian u32
 *   48      4     total model size in bytes, big-endian u32
 *   52      …     payload
 */
import { sha256Hex, SHA256_HEX } from './hash.js';

export const CHUNK_MAGIC = 'S4CH';
export const CHUNK_FRAME_VERSION = 1;
export const CHUNK_HEADER_BYTES = 52;
/** Payload per chunk: small enough to interleave with heartbeats, large enough to keep overhead low. */
export const DEFAULT_CHUNK_BYTES = 256 * 1024;
export const MAX_MODEL_BYTES = 0xffffffff;

// Plain-array helpers rather than Buffer: the browser agent decodes chunks with this same code.
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface Chunk {
  sha256: string;
  index: number;
  count: number;
  total: number;
  payload: Uint8Array;
}

/** A frame or transfer that breaks the rules above; `code` is what the error reply carries. */
export class FramingError extends Error {
  override name = 'FramingError';
  constructor(
    readonly code: 'bad_frame' | 'chunk_order' | 'size_mismatch' | 'hash_mismatch' | 'too_large',
    message: string,
  ) {
    super(message);
  }
}

export function encodeChunk(chunk: Chunk): Uint8Array {
  if (!SHA256_HEX.test(chunk.sha256))
    throw new FramingError('bad_frame', `chunk sha256 "${chunk.sha256}" is not 64 lowercase hex characters`);
  const frame = new Uint8Array(CHUNK_HEADER_BYTES + chunk.payload.length);
  const view = new DataView(frame.buffer);
  frame.set(new TextEncoder().encode(CHUNK_MAGIC), 0);
  frame[4] = CHUNK_FRAME_VERSION;
  frame.set(fromHex(chunk.sha256), 8);
  view.setUint32(40, chunk.index);
  view.setUint32(44, chunk.count);
  view.setUint32(48, chunk.total);
  frame.set(chunk.payload, CHUNK_HEADER_BYTES);
  return frame;
}

/** Splits a model into chunk frames, in order. An empty model still travels as one empty chunk. */
export function encodeModel(
  bytes: Uint8Array,
  chunkBytes = DEFAULT_CHUNK_BYTES,
  sha256 = sha256Hex(bytes),
): Uint8Array[] {
  if (bytes.length > MAX_MODEL_BYTES)
    throw new FramingError(
      'too_large',
      `model of ${bytes.length} bytes exceeds the ${MAX_MODEL_BYTES}-byte limit of the chunk frame`,
    );
  if (!(Number.isInteger(chunkBytes) && chunkBytes > 0))
    throw new FramingError('bad_frame', `chunk size must be a positive integer, got ${chunkBytes}`);
  const count = Math.max(1, Math.ceil(bytes.length / chunkBytes));
  const frames: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    const payload = bytes.subarray(index * chunkBytes, Math.min(bytes.length, (index + 1) * chunkBytes));
    frames.push(encodeChunk({ sha256, index, count, total: bytes.length, payload }));
  }
  return frames;
}

export function decodeChunk(frame: Uint8Array): Chunk {
  if (frame.length < CHUNK_HEADER_BYTES) {
    throw new FramingError(
      'bad_frame',
      `binary frame of ${frame.length} bytes is shorter than the ${CHUNK_HEADER_BYTES}-byte chunk header`,
    );
  }
  const magic = new TextDecoder().decode(frame.subarray(0, 4));
  if (magic !== CHUNK_MAGIC)
    throw new FramingError(
      'bad_frame',
      `binary frame does not start with "${CHUNK_MAGIC}" (got ${JSON.stringify(magic)})`,
    );
  if (frame[4] !== CHUNK_FRAME_VERSION)
    throw new FramingError('bad_frame', `chunk frame version ${frame[4]} is not the supported ${CHUNK_FRAME_VERSION}`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const sha256 = toHex(frame.subarray(8, 40));
  const index = view.getUint32(40);
  const count = view.getUint32(44);
  const total = view.getUint32(48);
  if (count === 0) throw new FramingError('bad_frame', `chunk of ${sha256.slice(0, 12)}… declares a count of 0`);
  if (index >= count) throw new FramingError('bad_frame', `chunk index ${index} is not below its count ${count}`);
  return { sha256, index, count, total, payload: frame.subarray(CHUNK_HEADER_BYTES) };
}

/**
 * Reassembles one model from its chunks. Chunks must arrive in order (a WebSocket keeps order, so a gap
 * means a broken sender); the finished bytes are checked against the announced sha256 before use.
 */
export class ChunkAssembler {
  private parts: Uint8Array[] = [];
  private received = 0;
  private next = 0;
  private count = -1;
  private total = -1;

  constructor(
    readonly sha256: string,
    private readonly maxBytes = MAX_MODEL_BYTES,
  ) {}

  /** Adds a chunk; returns the verified model once the last one arrived, else null. Throws FramingError. */
  push(chunk: Chunk): Uint8Array | null {
    const short = this.sha256.slice(0, 12);
    if (chunk.sha256 !== this.sha256)
      throw new FramingError('bad_frame', `chunk of ${chunk.sha256.slice(0, 12)}… sent to the transfer of ${short}…`);
    if (this.count < 0) {
      if (chunk.total > this.maxBytes)
        throw new FramingError(
          'too_large',
          `model ${short}… of ${chunk.total} bytes exceeds the limit of ${this.maxBytes} bytes`,
        );
      this.count = chunk.count;
      this.total = chunk.total;
    } else if (chunk.count !== this.count || chunk.total !== this.total) {
      throw new FramingError(
        'bad_frame',
        `chunk ${chunk.index} of ${short}… changes the count/total from ${this.count}/${this.total} to ${chunk.count}/${chunk.total}`,
      );
    }
    if (chunk.index !== this.next) {
      throw new FramingError(
        'chunk_order',
        `chunk ${chunk.index} of ${short}… arrived while chunk ${this.next} was expected`,
      );
    }
    this.received += chunk.payload.length;
    if (this.received > this.total)
      throw new FramingError('size_mismatch', `chunks of ${short}… carry more than the announced ${this.total} bytes`);
    this.parts.push(chunk.payload.slice());
    this.next++;
    if (this.next < this.count) return null;
    if (this.received !== this.total)
      throw new FramingError('size_mismatch', `model ${short}… ended after ${this.received} of ${this.total} bytes`);
    const bytes = concatBytes(this.parts);
    this.parts = [];
    const actual = sha256Hex(bytes);
    if (actual !== this.sha256)
      throw new FramingError(
        'hash_mismatch',
        `model bytes hash to ${actual.slice(0, 12)}…, not the announced ${short}…`,
      );
    return bytes;
  }
}
