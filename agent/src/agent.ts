/**
 * The board agent: links to the host, announces itself (id, name, tags, runtimes, device facts), receives
 * jobs and model bytes, and measures one job at a time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  ChunkAssembler,
  FramingError,
  PACKAGE_VERSION,
  PROTOCOL_VERSION,
  decodeChunk,
  isMeasurementExtension,
  type HostMessage,
  type RuntimeInfo,
} from '@s4op/shared';
import { ActiveModelStore } from './models/active-model.js';
import { ModelCache } from './models/cache.js';
import { untrustedModelProblem } from './models/model-check.js';
import { deviceFacts } from './device.js';
import { AgentJobs } from './link/jobs.js';
import { AgentLink } from './link/link.js';
import { pickRuntime, runtimeNames } from './runtimes/registry.js';
import { dropSpare, measure, prepareSpare, probeRuntime, type OnChild } from './measure/measure.js';
import { PeakCache } from './measure/peak-cache.js';
import { InferenceServer } from './serve/server.js';
import { Activation } from './serve/activation.js';

export interface AgentOptions {
  url: string;
  token: string;
  name: string;
  tags: string[];
  cacheDir: string;
  cacheMaxBytes: number;
  ca?: Buffer;
  insecure?: boolean;
  /** Skip probing these runtimes (e.g. on a board where one is known to misbehave). */
  disable?: string[];
  log?: (line: string) => void;
  onChild?: OnChild;
  backoff?: { initialMs: number; maxMs: number };
  /** The local inference API for the active model: off unless a port is given (0 picks a free one). */
  serve?: { port: number; bind?: string; threads?: number };
}

export function defaultCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 's4op-agent');
}

/** A stable id per cache folder, so a restarted agent is the same agent to the host. */
async function agentId(dir: string): Promise<string> {
  const file = path.join(dir, 'agent-id');
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (/^[A-Za-z0-9._:@-]{1,128}$/.test(id)) return id;
  } catch {
    // first start
  }
  const id = randomUUID();
  await writeFile(file, `${id}\n`);
  return id;
}

/**
 * This agent's secret, made at its first start and kept beside its id (owner-only): the host binds the id to
 * it at the first registration, so another board holding the shared token cannot speak as this one.
 */
async function agentKey(dir: string): Promise<string> {
  const file = path.join(dir, 'agent-key');
  try {
    const key = (await readFile(file, 'utf8')).trim();
    if (/^[A-Za-z0-9_-]{43}$/.test(key)) return key;
  } catch {
    // first start
  }
  const key = randomBytes(32).toString('base64url');
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/** Probes each runtime in its own process: a native library that crashes takes only the probe down. */
export async function probeRuntimes(disable: readonly string[] = []): Promise<RuntimeInfo[]> {
  return Promise.all(
    runtimeNames().map(async (name): Promise<RuntimeInfo> => {
      if (disable.includes(name))
        return { name, version: null, available: false, reason: 'disabled by --disable-runtime' };
      const r = await probeRuntime(name);
      return r.ok
        ? { name, version: r.version, available: true }
        : { name, version: null, available: false, reason: r.reason.slice(0, 1000) };
    }),
  );
}

export class Agent {
  private link!: AgentLink;
  private jobs!: AgentJobs;
  private cache!: ModelCache;
  private peaks!: PeakCache;
  private runtimes: RuntimeInfo[] = [];
  private transfers = new Map<string, ChunkAssembler>();
  private id = '';
  private key = '';
  private activation!: Activation;
  private activeStore!: ActiveModelStore;
  private inference: InferenceServer | null = null;
  readonly log: (line: string) => void;
  /** Resolves when the host refused this agent for good (wrong token, other protocol). */
  readonly fatal: Promise<string>;
  private onFatal!: (reason: string) => void;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log ?? ((l) => process.stderr.write(`${new Date().toISOString()} s4op-agent: ${l}\n`));
    this.fatal = new Promise((resolve) => (this.onFatal = resolve));
  }

  get runtimeInfo(): readonly RuntimeInfo[] {
    return this.runtimes;
  }

  async start(): Promise<void> {
    await mkdir(this.opts.cacheDir, { recursive: true });
    this.id = await agentId(this.opts.cacheDir);
    this.key = await agentKey(this.opts.cacheDir);
    this.cache = await new ModelCache(path.join(this.opts.cacheDir, 'models'), this.opts.cacheMaxBytes).init();
    this.peaks = new PeakCache(this.opts.cacheDir, this.log);
    this.runtimes = await probeRuntimes(this.opts.disable);
    for (const r of this.runtimes)
      this.log(`runtime ${r.name}: ${r.available ? `available (${r.version})` : `unavailable (${r.reason})`}`);
    const activeStore = (this.activeStore = await new ActiveModelStore(this.opts.cacheDir).load());
    if (this.opts.serve) {
      const { port, bind = '127.0.0.1' } = this.opts.serve;
      this.inference = await new InferenceServer({ port, bind, state: () => activeStore.state, log: this.log })
        .start()
        .catch((err: Error) => {
          throw new Error(
            `inference API: cannot listen on ${bind}:${port}: ${err.message} (pick another --serve-port)`,
          );
        });
      this.log(`inference API listening on ${this.inference.url}`);
    }
    this.activation = new Activation({
      cache: this.cache,
      store: activeStore,
      server: this.inference,
      runtimes: () => this.runtimes,
      threads: this.opts.serve?.threads ?? 1,
      log: this.log,
    });
    await this.activation.resume();
    const preferred = pickRuntime('auto', this.runtimes);
    if (preferred.ok) prepareSpare(preferred.name);
    this.link = new AgentLink({
      url: this.opts.url,
      ca: this.opts.ca,
      insecure: this.opts.insecure,
      backoff: this.opts.backoff,
      log: this.log,
      hello: async () => ({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token: this.opts.token,
        agent_id: this.id,
        name: this.opts.name,
        tags: this.opts.tags,
        agent_version: PACKAGE_VERSION,
        runtimes: this.runtimes,
        device: await deviceFacts(),
        // Only when something is deployed: a host from before deployments would refuse the unknown field.
        ...(this.activation.state.active || this.activation.state.previous
          ? { model_state: this.activation.state }
          : {}),
        agent_key: this.key,
      }),
    });
    this.jobs = await new AgentJobs({
      cache: this.cache,
      resultsDir: path.join(this.opts.cacheDir, 'results'),
      runtimes: () => this.runtimes,
      send: (m) => this.link.send(m),
      measure: (req) => measure({ ...req, peaks: this.peaks, log: this.log }),
      idle: (runtime) => prepareSpare(runtime),
      log: this.log,
      onChild: this.opts.onChild,
    }).init();
    this.link.on('ready', () => {
      this.log(`connected to ${this.opts.url} as ${this.opts.name} (${this.id})`);
      this.transfers.clear();
      this.jobs.connected();
      this.jobs.resume();
    });
    this.link.on('message', (m) => this.onMessage(m));
    this.link.on('binary', (frame) => void this.onChunk(frame));
    this.link.on('fatal', (reason) => {
      this.log(reason);
      this.onFatal(reason);
    });
    this.link.start();
  }

  stop(): void {
    dropSpare();
    this.jobs?.stop();
    this.link?.stop();
    void this.inference?.stop();
  }

  /** The inference API's URL, when it runs. */
  get inferenceUrl(): string | null {
    return this.inference?.url ?? null;
  }

  private onMessage(m: HostMessage): void {
    switch (m.type) {
      case 'job':
        this.jobs.submit(m);
        break;
      case 'cancel':
        if (!this.jobs.cancel(m.job_id))
          this.link.sendError({
            type: 'error',
            code: 'unknown_job',
            message: `no queued or running job "${m.job_id}" to cancel`,
            job_id: m.job_id,
          });
        break;
      case 'ack':
        void this.jobs.ack(m.job_id);
        break;
      case 'error':
        this.log(`host reports ${m.code}${m.field ? ` in ${m.field}` : ''}: ${m.message}`);
        // A host from before the optional measurement fields refuses them: send its results without them.
        if (m.code === 'bad_field' && m.field && isMeasurementExtension(m.field) && this.jobs.dropExtensions()) {
          this.log(
            'the host does not know the newer optional measurement fields (background load, device peak, profile): sending results without them',
          );
        }
        break;
      case 'activate':
        void this.activation
          .activate(m.deployment_id, m.model)
          .then((r) => this.link.send({ type: 'model_state', ...r }));
        break;
      case 'rollback':
        void this.activation.rollback(m.deployment_id).then((r) => this.link.send({ type: 'model_state', ...r }));
        break;
      case 'welcome':
        break;
    }
  }

  private async onChunk(frame: Buffer): Promise<void> {
    let sha: string | undefined;
    try {
      let chunk;
      try {
        chunk = decodeChunk(frame);
      } catch (err) {
        // A frame that does not decode still names its model when the header got that far; else every
        // transfer in progress is broken (chunks come only for what this agent asked for).
        const named = frame.length >= 40 ? frame.subarray(8, 40).toString('hex') : undefined;
        const broken = named && this.jobs.isWanted(named) ? [named] : this.jobs.wantedHashes();
        this.failTransfers(broken, err);
        return;
      }
      sha = chunk.sha256;
      if (!this.jobs.isWanted(sha)) {
        this.link.sendError({
          type: 'error',
          code: 'unknown_model',
          message: `model ${sha.slice(0, 12)}… was not asked for; chunk dropped`,
          sha256: sha,
        });
        return;
      }
      let asm = this.transfers.get(sha);
      if (!asm) {
        // The size the job declared is the size the bytes must have: a transfer announcing another fails at once.
        const declared = this.jobs.declaredSize(sha);
        if (declared !== undefined && chunk.total !== declared) {
          throw new FramingError(
            'size_mismatch',
            `model ${sha.slice(0, 12)}… arrives as ${chunk.total} bytes, the job declared ${declared}`,
          );
        }
        asm = new ChunkAssembler(sha, this.opts.cacheMaxBytes);
        this.transfers.set(sha, asm);
      }
      const bytes = asm.push(chunk);
      if (!bytes) return;
      this.transfers.delete(sha);
      const problem = untrustedModelProblem(bytes);
      if (problem) {
        this.transfers.delete(sha);
        this.log(`model ${sha.slice(0, 12)}… refused: ${problem}`);
        this.jobs.modelFailed(sha, { code: 'bad_model', message: `model ${sha.slice(0, 12)}… refused: ${problem}` });
        return;
      }
      // The active and previous models are never evicted: a rollback must find the previous one.
      await this.cache.put(sha, bytes, new Set([...this.jobs.pinned(), ...this.activeStore.pinned()]));
      this.link.send({ type: 'model_stored', sha256: sha });
      this.jobs.modelArrived(sha);
    } catch (err) {
      this.failTransfers(sha ? [sha] : this.jobs.wantedHashes(), err);
    }
  }

  /** A broken transfer: the hashes are no longer wanted, and the jobs waiting on them fail with the reason. */
  private failTransfers(hashes: string[], err: unknown): void {
    const code = err instanceof FramingError ? err.code : 'unexpected';
    const message = err instanceof Error ? err.message : String(err);
    this.log(`model transfer failed: ${message}`);
    if (!hashes.length) this.link.sendError({ type: 'error', code, message });
    for (const sha of hashes) {
      this.transfers.delete(sha);
      this.link.sendError({ type: 'error', code, message, sha256: sha });
      this.jobs.modelFailed(sha, { code: code === 'hash_mismatch' ? 'hash_mismatch' : 'bad_transfer', message });
    }
  }
}
