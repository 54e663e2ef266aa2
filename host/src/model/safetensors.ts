import { readFile, writeFile } from 'node:fs/promises';

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range (relative to the data section), optional string `__metadata__`, then raw
 * little-endian data.
 */
export type SafetensorsDtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface StoredTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Values converted to float32 (F32, F64, F16, BF16, integer types). */
  values: Float32Array;
}

const BYTES: Record<SafetensorsDtype, number> = {
  F32: 4,
  F64: 8,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function encodeSafetensors(
  tensors: Map<string, { shape: number[]; values: Float32Array }>,
  metadata: Record<string, string> = {},
): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.values.length)
      throw new Error(`safetensors: ${name} has ${t.values.length} values for shape [${t.shape}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + size * 4] };
    offset += size * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const v = tensors.get(name)!.values;
    Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(out, pos);
    pos += v.byteLength;
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Parses a safetensors buffer; `source` names the file in errors. */
export function decodeSafetensors(
  buf: Buffer,
  source = 'safetensors',
): { tensors: Map<string, StoredTensor>; metadata: Record<string, string> } {
  if (buf.length < 8) throw new Error(`${source}: not a safetensors file (${buf.length} bytes, no header)`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n <= 0 || 8 + n > buf.length)
    throw new Error(`${source}: not a safetensors file (header length ${n} exceeds the file's ${buf.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch {
    throw new Error(`${source}: corrupt safetensors header (not JSON)`);
  }
  const data = buf.subarray(8 + n);
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = entry as {
      dtype: SafetensorsDtype;
      shape: number[];
      data_offsets: [number, number];
    };
    const width = BYTES[dtype];
    if (!width) throw new Error(`${source}: tensor ${name} has unsupported dtype ${String(dtype)}`);
    const size = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = data_offsets;
    if (end - begin !== size * width || end > data.length || begin < 0) {
      throw new Error(
        `${source}: tensor ${name} [${shape}] ${dtype}: byte range ${begin}..${end} does not fit (data is ${data.length} bytes)`,
      );
    }
    const raw = data.subarray(begin, end);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      switch (dtype) {
        case 'F32':
          values[i] = dv.getFloat32(i * 4, true);
          break;
        case 'F64':
          values[i] = dv.getFloat64(i * 8, true);
          break;
        case 'F16':
          values[i] = halfToFloat(dv.getUint16(i * 2, true));
          break;
        case 'BF16': {
          const tmp = new DataView(new ArrayBuffer(4));
          tmp.setUint32(0, dv.getUint16(i * 2, true) << 16, true);
          values[i] = tmp.getFloat32(0, true);
          break;
        }
        case 'I64':
          values[i] = Number(dv.getBigInt64(i * 8, true));
          break;
        case 'I32':
          values[i] = dv.getInt32(i * 4, true);
          break;
        case 'I16':
          values[i] = dv.getInt16(i * 2, true);
          break;
        case 'I8':
          values[i] = dv.getInt8(i);
          break;
        case 'U8':
        case 'BOOL':
          values[i] = dv.getUint8(i);
          break;
      }
    }
    tensors.set(name, { dtype, shape, values });
  }
  return { tensors, metadata };
}

export async function readSafetensors(path: string) {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return decodeSafetensors(buf, path);
}

export async function writeSafetensors(
  path: string,
  tensors: Map<string, { shape: number[]; values: Float32Array }>,
  metadata?: Record<string, string>,
) {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}
