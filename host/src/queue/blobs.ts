/**
 * Checkpoints in transit: a checkpoint directory (its config and weights) as one bundle, stored in Redis under
 * its sha256 once (SET with an expiry; the same bundle twice is one key) and verified on arrival, so a corrupt
 * or truncated blob is refused instead of trained on.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { CONFIG_FILE, WEIGHTS_FILE } from '../model/checkpoint.js';
import { BLOB_PREFIX, BLOB_TTL_S } from './connection.js';

const MAGIC = 'S4OPBLOB1\n';
const FILES = [CONFIG_FILE, WEIGHTS_FILE];

export class BlobError extends Error {
  override name = 'BlobError';
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The checkpoint in `dir` as one buffer: magic, a JSON line of file sizes, the files' bytes. */
export async function bundle(dir: string): Promise<Buffer> {
  const parts = await Promise.all(FILES.map((f) => readFile(path.join(dir, f))));
  const head = JSON.stringify({ files: FILES.map((name, i) => ({ name, size: parts[i]!.length })) });
  return Buffer.concat([Buffer.from(`${MAGIC}${head}\n`), ...parts]);
}

/** Writes a bundle's files to `dir` (next to it first, then renamed into place). */
export async function unbundle(buf: Buffer, dir: string): Promise<void> {
  if (buf.subarray(0, MAGIC.length).toString() !== MAGIC) throw new BlobError('not a checkpoint bundle');
  const nl = buf.indexOf(10, MAGIC.length);
  const head = JSON.parse(buf.subarray(MAGIC.length, nl).toString()) as { files: { name: string; size: number }[] };
  const tmp = `${dir.replace(/\/+$/, '')}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  let at = nl + 1;
  for (const f of head.files) {
    if (!FILES.includes(f.name)) throw new BlobError(`unexpected file ${f.name} in a checkpoint bundle`);
    await writeFile(path.join(tmp, f.name), buf.subarray(at, at + f.size));
    at += f.size;
  }
  if (at !== buf.length) throw new BlobError('checkpoint bundle has trailing bytes');
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.dirname(path.resolve(dir)), { recursive: true });
  await rename(tmp, dir);
}

/** Stores `buf` under its sha256 (refreshing the expiry); returns the hash. */
export async function putBlob(redis: Redis, buf: Buffer): Promise<string> {
  const hash = sha256(buf);
  await redis.set(BLOB_PREFIX + hash, buf, 'EX', BLOB_TTL_S);
  return hash;
}

/** The blob `hash`, verified; BlobError when it is missing or its bytes do not hash to its name. */
export async function getBlob(redis: Redis, hash: string, what: string): Promise<Buffer> {
  const buf = await redis.getBuffer(BLOB_PREFIX + hash);
  if (!buf) throw new BlobError(`${what} blob ${hash.slice(0, 12)}… is not in Redis (expired or Redis restarted)`);
  const got = sha256(buf);
  if (got !== hash)
    throw new BlobError(`${what} blob ${hash.slice(0, 12)}… is corrupt: its bytes hash to ${got.slice(0, 12)}…`);
  return buf;
}
