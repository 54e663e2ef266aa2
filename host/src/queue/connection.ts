/**
 * The queue's wire: one BullMQ queue of fine-tune jobs on a Redis given by URL, the job and result shapes,
 * and the version both ends must share. Shared by the host (client.ts), the worker (worker.ts,
 * processor.ts) and `s4op workers` (status.ts).
 */
import os from 'node:os';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '@s4op/shared';
import { Redis, type RedisOptions } from 'ioredis';
import type { CandidateJob, FineTuned } from '../prune/candidate.js';
import { InputError } from '../errors.js';

export const QUEUE_NAME = 's4op-finetune';
/** Blobs (checkpoint bundles) by sha256; they expire so an abandoned run leaves nothing behind for long. */
export const BLOB_PREFIX = 's4op:blob:';
export const BLOB_TTL_S = 24 * 3600;

export interface WireVersion {
  package: string;
  protocol: number;
}
export const WIRE_VERSION: WireVersion = { package: PACKAGE_VERSION, protocol: PROTOCOL_VERSION };

export interface FineTuneJobData {
  kind: 'finetune';
  version: WireVersion;
  /** The host's tfjs backend: the worker computes on the same one, so the results are the same. */
  backend: string;
  /** sha256 of the parent checkpoint's bundle (blobs.ts). */
  parent_sha256: string;
  /**
   * The host's dataset spec (data.info.spec): the worker rebuilds exactly that dataset; user files are named
   * by path and sha256, so a worker without the file, or with other contents, says so instead of training.
   */
  dataset: Record<string, unknown>;
  job: CandidateJob;
}

/** An empty job: the queue's own overhead (scripts/bench/queue.ts). */
export interface PingJobData {
  kind: 'ping';
  version: WireVersion;
}

export type JobData = FineTuneJobData | PingJobData;

export type FineTuneResult = Omit<FineTuned, 'dir'> & {
  /** sha256 of the fine-tuned checkpoint's bundle. */
  blob_sha256: string;
  worker: string;
  /** Where the worker's time went, in ms. */
  timings: { fetch_ms: number; data_ms: number; finetune_ms: number; upload_ms: number };
};

/** Why a job from another version is refused, or undefined when the versions match. */
export function versionMismatch(v: WireVersion | undefined): string | undefined {
  if (v && v.package === WIRE_VERSION.package && v.protocol === WIRE_VERSION.protocol) return undefined;
  const theirs = v ? `s4op ${v.package} (protocol ${v.protocol})` : 'an unknown s4op version';
  return `job from ${theirs} refused: this worker is s4op ${WIRE_VERSION.package} (protocol ${WIRE_VERSION.protocol}); run the same version on the host and the workers`;
}

export const workerName = () => `${os.hostname()}:${process.pid}`;

/**
 * redis://[user:password@]host[:port][/db] or rediss://… (TLS) as ioredis options. maxRetriesPerRequest null:
 * commands wait for a reconnect instead of failing, so a Redis restart pauses a run rather than ending it.
 */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InputError(`not a Redis URL: ${JSON.stringify(url)} (expected redis://HOST:PORT or rediss://…)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new InputError(`not a Redis URL: ${JSON.stringify(url)} (expected redis:// or rediss://)`);
  if (!u.hostname) throw new InputError(`Redis URL ${JSON.stringify(url)} names no host`);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw new InputError(`Redis URL ${JSON.stringify(url)}: database must be a number`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: db ? Number(db) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
    // Reconnect quickly, but back off to at most 2 s while Redis is away.
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
}

/** A connection to the queue's Redis (BullMQ in an ES module takes a constructed client); close it with quit(). */
export const redisClient = (url: string, over: RedisOptions = {}) => new Redis({ ...redisOptions(url), ...over });

/** Resolves once Redis at `url` answers a PING; rejects with a clear reason within `timeoutMs` otherwise. */
export async function checkRedis(url: string, timeoutMs = 5000): Promise<void> {
  const r = redisClient(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
  });
  let cause = '';
  r.on('error', (err: Error) => (cause ||= err.message));
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    throw new Error(`Redis at ${u(url)} does not answer: ${cause || (err as Error).message}`);
  } finally {
    r.disconnect();
  }
}

/** The URL without its password, for messages. */
const u = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
