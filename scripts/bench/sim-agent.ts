/**
 * A light simulated agent for fleet-scale runs: the real agent's link (AgentLink from @s4op/agent: hello,
 * heartbeats, reconnect with backoff and full jitter, the host's welcome, its own agent key) and the real
 * protocol and chunk framing (@s4op/shared), but no runtime: a job's model is fetched and verified like on a
 * board (need_model, chunk frames, sha256, model_stored), then answered with a synthetic, well-formed
 * measurement; results stay until the host acks them and are re-sent on reconnect; activate and rollback
 * keep a model state reported in every hello. Hundreds run in one process.
 */
import { randomBytes } from 'node:crypto';
import { AgentLink } from '@s4op/agent';
import {
  ChunkAssembler,
  decodeChunk,
  PROTOCOL_VERSION,
  type ActiveModelState,
  type HostMessage,
  type Job,
  type Measurement,
  type Result,
} from '@s4op/shared';

export interface SimAgentOptions {
  url: string;
  token: string;
  id: string;
  name: string;
  tags: string[];
  /** Synthetic p50 in ms (others derived from it); a gate can be made to fail by raising it. */
  p50Ms?: number;
  /** Delay before a result, in ms (a measurement's stand-in). */
  measureMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  log?: (line: string) => void;
}

function measurement(job: Job, p50: number, ms: number): Measurement {
  const stats = (m: number) => ({
    n: 100,
    min: m * 0.9,
    max: m * 1.5,
    median: m,
    mean: m * 1.02,
    p90: m * 1.1,
    p99: m * 1.3,
    std: m * 0.05,
    cv: 0.05,
    median_ci: { low: m * 0.98, high: m * 1.02, confidence: 0.95 },
  });
  const snap = { temperature_c: null, cpu_mhz: null, throttle: null };
  return {
    runtime: { name: 'onnxruntime-node', version: 'sim', settings: {} },
    settings: job.settings,
    mode: job.mode,
    models: job.models.map((m) => ({
      sha256: m.sha256,
      size_bytes: m.size,
      inputs: [],
      load_ms: 1,
      first_run_ms: p50 * 2,
      latency_ms: stats(p50),
    })),
    ratio: job.mode === 'ab' ? stats(1) : null,
    warmup: { runs: 10, ms: ms / 2 },
    memory_mb: {
      baseline_rss: 40,
      after_load_rss: 42,
      after_first_run_rss: 43,
      peak_rss: 44,
      load_added: 2,
      first_run_added: 1,
    },
    thermal: { before: snap, after: snap, throttled: false },
    started_at: new Date().toISOString(),
    duration_ms: ms,
  };
}

export class SimAgent {
  readonly link: AgentLink;
  /** The agent's own key (a real agent keeps it in its cache folder). */
  private readonly key = randomBytes(32).toString('base64url');
  private readonly stored = new Set<string>();
  private readonly wanted = new Map<string, ChunkAssembler>();
  private readonly waiting = new Map<string, Job>();
  private readonly unacked = new Map<string, Result>();
  private readonly done = new Map<string, Result>();
  state: ActiveModelState = { active: null, previous: null };
  /** Ready (welcomed) right now. */
  ready = false;
  /** The host refused this agent for good (the link stopped). */
  fatal: string | null = null;
  /** Times the link came up. */
  connects = 0;
  p50Ms: number;

  constructor(private readonly opts: SimAgentOptions) {
    this.p50Ms = opts.p50Ms ?? 0.5;
    this.link = new AgentLink({
      url: opts.url,
      backoff: opts.backoff,
      log: opts.log ?? (() => undefined),
      hello: async () => ({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token: opts.token,
        agent_id: opts.id,
        name: opts.name,
        tags: opts.tags,
        agent_version: '0.0.0-sim',
        runtimes: [{ name: 'onnxruntime-node', version: 'sim', available: true }],
        device: {
          hostname: opts.name,
          cpu_model: 'simulated',
          cores: 4,
          cpu_max_mhz: null,
          cpu_current_mhz: null,
          memory_total_mb: 4096,
          os: 'sim',
          arch: 'arm64',
          temperature_c: null,
          board_model: 'Simulated Board',
        },
        ...(this.state.active || this.state.previous ? { model_state: this.state } : {}),
        agent_key: this.key,
      }),
    });
    this.link.on('ready', () => {
      this.ready = true;
      this.connects++;
      this.wanted.clear();
      for (const r of this.unacked.values()) this.link.send(r);
      for (const job of this.waiting.values()) this.onJob(job);
    });
    this.link.on('down', () => (this.ready = false));
    this.link.on('fatal', (reason) => {
      this.ready = false;
      this.fatal = reason;
    });
    this.link.on('message', (m) => this.onMessage(m));
    this.link.on('binary', (frame) => this.onChunk(frame));
  }

  get id(): string {
    return this.opts.id;
  }

  get name(): string {
    return this.opts.name;
  }

  start(): this {
    this.link.start();
    return this;
  }

  stop(): void {
    this.ready = false;
    this.link.stop();
  }

  private onMessage(m: HostMessage): void {
    switch (m.type) {
      case 'job':
        this.onJob(m);
        break;
      case 'ack':
        if (this.unacked.has(m.job_id)) {
          this.done.set(m.job_id, this.unacked.get(m.job_id)!);
          this.unacked.delete(m.job_id);
          if (this.done.size > 64) this.done.delete(this.done.keys().next().value!);
        }
        break;
      case 'cancel':
        if (this.waiting.delete(m.job_id))
          this.finish({
            type: 'result',
            job_id: m.job_id,
            measurement: null,
            error: { code: 'cancelled', message: 'cancelled' },
          });
        else
          this.link.sendError({
            type: 'error',
            code: 'unknown_job',
            message: `no job "${m.job_id}"`,
            job_id: m.job_id,
          });
        break;
      case 'activate': {
        if (!this.stored.has(m.model.sha256)) {
          this.link.send({
            type: 'model_state',
            deployment_id: m.deployment_id,
            request: 'activate',
            state: this.state,
            error: { code: 'missing_model', message: 'not stored' },
          });
          break;
        }
        if (this.state.active?.sha256 !== m.model.sha256)
          this.state = {
            active: { sha256: m.model.sha256, deployment_id: m.deployment_id, activated_at: new Date().toISOString() },
            previous: this.state.active,
          };
        this.link.send({
          type: 'model_state',
          deployment_id: m.deployment_id,
          request: 'activate',
          state: this.state,
          error: null,
        });
        break;
      }
      case 'rollback':
        if (this.state.active?.deployment_id === m.deployment_id)
          this.state = { active: this.state.previous, previous: null };
        this.link.send({
          type: 'model_state',
          deployment_id: m.deployment_id,
          request: 'rollback',
          state: this.state,
          error: null,
        });
        break;
      default:
        break;
    }
  }

  private onJob(job: Job): void {
    const earlier = this.unacked.get(job.job_id) ?? this.done.get(job.job_id);
    if (earlier) {
      this.link.send(earlier);
      return;
    }
    this.waiting.set(job.job_id, job);
    const missing = job.models.filter((x) => !this.stored.has(x.sha256));
    if (missing.length) {
      for (const x of missing) {
        if (this.wanted.has(x.sha256)) continue;
        this.wanted.set(x.sha256, new ChunkAssembler(x.sha256, 64 * 2 ** 20));
        this.link.send({ type: 'need_model', sha256: x.sha256 });
      }
      this.link.send({ type: 'job_status', job_id: job.job_id, state: 'waiting_model', position: 0 });
      return;
    }
    this.link.send({ type: 'job_status', job_id: job.job_id, state: 'running', position: 0 });
    const ms = this.opts.measureMs ?? 20;
    setTimeout(() => {
      if (!this.waiting.delete(job.job_id)) return;
      this.finish({ type: 'result', job_id: job.job_id, measurement: measurement(job, this.p50Ms, ms), error: null });
    }, ms);
  }

  private finish(r: Result): void {
    this.unacked.set(r.job_id, r);
    this.link.send(r);
  }

  private onChunk(frame: Buffer): void {
    try {
      const chunk = decodeChunk(frame);
      const asm = this.wanted.get(chunk.sha256);
      if (!asm) return;
      const bytes = asm.push(chunk);
      if (!bytes) return;
      this.wanted.delete(chunk.sha256);
      this.stored.add(chunk.sha256);
      this.link.send({ type: 'model_stored', sha256: chunk.sha256 });
      for (const job of [...this.waiting.values()])
        if (job.models.some((x) => x.sha256 === chunk.sha256)) this.onJob(job);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      for (const [sha] of this.wanted) {
        this.wanted.delete(sha);
        for (const job of [...this.waiting.values()]) {
          if (job.models.some((x) => x.sha256 === sha)) {
            this.waiting.delete(job.job_id);
            this.finish({
              type: 'result',
              job_id: job.job_id,
              measurement: null,
              error: { code: 'bad_transfer', message },
            });
          }
        }
      }
    }
  }
}

/** Starts `count` simulated agents named `${prefix}-NNNN`, spread over `spreadMs` (a real fleet does not boot in one tick). */
export function startSimAgents(opts: {
  url: string;
  token: string;
  count: number;
  prefix: string;
  first?: number;
  tags?: (i: number) => string[];
  spreadMs?: number;
  backoff?: SimAgentOptions['backoff'];
  measureMs?: number;
}): SimAgent[] {
  const agents: SimAgent[] = [];
  const first = opts.first ?? 0;
  for (let k = 0; k < opts.count; k++) {
    const i = first + k;
    const name = `${opts.prefix}-${String(i).padStart(4, '0')}`;
    const a = new SimAgent({
      url: opts.url,
      token: opts.token,
      id: `${name}-id`,
      name,
      tags: opts.tags?.(i) ?? ['sim'],
      backoff: opts.backoff,
      measureMs: opts.measureMs,
    });
    agents.push(a);
    const delay = opts.spreadMs ? Math.floor((k / opts.count) * opts.spreadMs) : 0;
    if (delay) setTimeout(() => a.start(), delay);
    else a.start();
  }
  return agents;
}
