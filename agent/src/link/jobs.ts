/**
 * The agent's job book: one measurement at a time (others queue in arrival order), idempotent job ids,
 * cancel, and results kept — on disk — until the host acknowledges them, so a dropped link or an agent
 * restart loses nothing: every (re)connect delivers what is still unacknowledged.
 */
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  Result as ResultSchema,
  withoutExtensions,
  type AgentMessage,
  type Job,
  type JobError,
  type Measurement,
  type Result,
  type RuntimeInfo,
  type RuntimeName,
} from '@s4op/shared';
import type { ModelCache } from '../models/cache.js';
import type { MeasureOutcome, MeasureRequest } from '../measure/measure.js';
import { pickRuntime } from '../runtimes/registry.js';

type State = 'waiting_model' | 'queued' | 'running';

interface Entry {
  job: Job;
  state: State;
  abort: AbortController;
}

export interface JobsDeps {
  cache: ModelCache;
  /** Where unacknowledged results are kept across restarts. */
  resultsDir: string;
  runtimes: () => readonly RuntimeInfo[];
  /** Sends to the host; returns false while the link is down (the message is then dropped). */
  send: (message: AgentMessage) => boolean;
  measure: (req: MeasureRequest) => Promise<MeasureOutcome>;
  /** Called when the queue runs dry after a job on `runtime`: fork the next job's process ahead. */
  idle?: (runtime: RuntimeName) => void;
  log: (line: string) => void;
  onChild?: MeasureRequest['onChild'];
}

/** Acknowledged results kept to answer a repeated job id without measuring again. */
const RECENT_LIMIT = 256;

export class AgentJobs {
  private readonly entries = new Map<string, Entry>();
  private readonly unacked = new Map<string, Result>();
  private readonly recent = new Map<string, Result>();
  /** Hashes asked of the host and not yet stored. */
  private readonly wanted = new Set<string>();
  private running: string | null = null;
  /** The host refused a result for an optional field it does not know: send results without them. */
  private plainResults = false;

  constructor(private readonly deps: JobsDeps) {}

  /** A result as this host accepts it. */
  private outgoing(r: Result): Result {
    return this.plainResults && r.measurement ? { ...r, measurement: withoutExtensions(r.measurement) } : r;
  }

  /**
   * The host (one from before the optional measurement fields) refused a result over one of them: from now
   * on (until the next connection) results go without them, and those not acknowledged are sent again.
   * Returns false when already doing so (nothing more to try).
   */
  dropExtensions(): boolean {
    if (this.plainResults) return false;
    this.plainResults = true;
    for (const r of this.unacked.values()) this.deps.send(this.outgoing(r));
    return true;
  }

  /** A new connection: the host may be a different one, so start with the full results again. */
  connected(): void {
    this.plainResults = false;
  }

  /** Loads results a previous run of the agent could not deliver. */
  async init(): Promise<this> {
    await mkdir(this.deps.resultsDir, { recursive: true });
    for (const name of await readdir(this.deps.resultsDir)) {
      const full = path.join(this.deps.resultsDir, name);
      if (!name.endsWith('.json')) {
        await unlink(full).catch(() => undefined);
        continue;
      }
      const parsed = ResultSchema.safeParse(JSON.parse(await readFile(full, 'utf8').catch(() => 'null')));
      if (parsed.success) this.unacked.set(parsed.data.job_id, parsed.data);
      else this.deps.log(`ignoring unreadable stored result ${name}`);
    }
    return this;
  }

  /** Models that queued or running jobs need: never evicted. */
  pinned(): Set<string> {
    const s = new Set<string>();
    for (const e of this.entries.values()) for (const m of e.job.models) s.add(m.sha256);
    return s;
  }

  isWanted(sha256: string): boolean {
    return this.wanted.has(sha256);
  }

  wantedHashes(): string[] {
    return [...this.wanted];
  }

  /** The size a job in hand declared for this model (the bytes must have it). */
  declaredSize(sha256: string): number | undefined {
    for (const e of this.entries.values()) for (const m of e.job.models) if (m.sha256 === sha256) return m.size;
    return undefined;
  }

  get pendingResults(): number {
    return this.unacked.size;
  }

  submit(job: Job): void {
    const id = job.job_id;
    const existing = this.entries.get(id);
    if (existing) return this.sendStatus(id);
    const done = this.unacked.get(id) ?? this.recent.get(id);
    if (done) {
      this.deps.send(this.outgoing(done));
      return;
    }
    this.entries.set(id, { job, state: 'waiting_model', abort: new AbortController() });
    void this.checkModels(id);
  }

  private async checkModels(id: string): Promise<void> {
    const e = this.entries.get(id);
    if (!e || e.state !== 'waiting_model') return;
    let missing = false;
    for (const m of e.job.models) {
      if (this.deps.cache.has(m.sha256)) continue;
      missing = true;
      if (!this.wanted.has(m.sha256)) {
        this.wanted.add(m.sha256);
        this.deps.send({ type: 'need_model', sha256: m.sha256 });
      }
    }
    if (missing) return this.sendStatus(id);
    e.state = 'queued';
    this.sendStatus(id);
    this.pump();
  }

  /** A model the host sent is stored: jobs waiting on it may queue. */
  modelArrived(sha256: string): void {
    this.wanted.delete(sha256);
    for (const [id, e] of this.entries)
      if (e.state === 'waiting_model' && e.job.models.some((m) => m.sha256 === sha256)) void this.checkModels(id);
  }

  /** A transfer failed (corrupt bytes, broken framing): jobs waiting on that model fail with the reason. */
  modelFailed(sha256: string, error: JobError): void {
    this.wanted.delete(sha256);
    for (const [id, e] of [...this.entries]) {
      if (e.state === 'waiting_model' && e.job.models.some((m) => m.sha256 === sha256))
        void this.finish(id, { ok: false, error });
    }
  }

  cancel(id: string): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    if (e.state === 'running') e.abort.abort();
    else
      void this.finish(id, {
        ok: false,
        error: { code: 'cancelled', message: `job ${id} was cancelled before it ran` },
      });
    return true;
  }

  async ack(id: string): Promise<void> {
    const r = this.unacked.get(id);
    if (!r) return;
    this.unacked.delete(id);
    this.recent.set(id, r);
    if (this.recent.size > RECENT_LIMIT) this.recent.delete(this.recent.keys().next().value!);
    await unlink(this.resultFile(id)).catch(() => undefined);
  }

  /** After a (re)connect: deliver unacknowledged results, re-ask for models, restate jobs in hand. */
  resume(): void {
    for (const r of this.unacked.values()) this.deps.send(this.outgoing(r));
    for (const sha of this.wanted) this.deps.send({ type: 'need_model', sha256: sha });
    for (const id of this.entries.keys()) this.sendStatus(id);
  }

  /** Cancels everything in hand (agent shutdown). */
  stop(): void {
    for (const e of this.entries.values()) e.abort.abort();
  }

  private position(id: string): number {
    let ahead = 0;
    for (const [other, e] of this.entries) {
      if (other === id) break;
      if (e.state !== 'waiting_model') ahead++;
    }
    return ahead;
  }

  private sendStatus(id: string): void {
    const e = this.entries.get(id);
    if (e)
      this.deps.send({
        type: 'job_status',
        job_id: id,
        state: e.state,
        position: e.state === 'running' ? 0 : this.position(id),
      });
  }

  private pump(): void {
    if (this.running) return;
    const next = [...this.entries.values()].find((e) => e.state === 'queued');
    if (!next) return;
    this.running = next.job.job_id;
    next.state = 'running';
    this.sendStatus(next.job.job_id);
    void this.run(next).then((runtime) => {
      this.running = null;
      this.pump();
      if (!this.running && runtime) this.deps.idle?.(runtime);
    });
  }

  /** Measures one job; returns the runtime it used (null when none ran). */
  private async run(e: Entry): Promise<RuntimeName | null> {
    const { job } = e;
    let outcome: MeasureOutcome;
    let used: RuntimeName | null = null;
    try {
      const pick = pickRuntime(job.settings.runtime, this.deps.runtimes());
      if (!pick.ok) {
        outcome = { ok: false, error: { code: 'runtime_unavailable', message: pick.reason } };
      } else {
        for (const m of job.models) {
          if (!(await this.deps.cache.verify(m.sha256))) {
            // Damaged or evicted since it arrived: fetch it again instead of measuring garbage.
            e.state = 'waiting_model';
            this.deps.log(`model ${m.sha256.slice(0, 12)}… missing or damaged in the cache; asking the host again`);
            void this.checkModels(job.job_id);
            return null;
          }
          await this.deps.cache.touch(m.sha256);
        }
        used = pick.name;
        this.deps.log(
          `job ${job.job_id}: measuring ${job.models.map((m) => m.name ?? m.sha256.slice(0, 12)).join(' vs ')} on ${pick.name}`,
        );
        outcome = await this.deps.measure({
          runtime: pick.name,
          models: job.models.map((m) => ({ path: this.deps.cache.pathOf(m.sha256), sha256: m.sha256 })),
          settings: job.settings,
          signal: e.abort.signal,
          onChild: this.deps.onChild,
        });
      }
    } catch (err) {
      outcome = {
        ok: false,
        error: { code: 'agent_error', message: err instanceof Error ? err.message : String(err) },
      };
    }
    await this.finish(job.job_id, outcome);
    return used;
  }

  private resultFile(id: string): string {
    return path.join(this.deps.resultsDir, `${id}.json`);
  }

  private async finish(
    id: string,
    outcome: { ok: true; measurement: Measurement } | { ok: false; error: JobError },
  ): Promise<void> {
    if (!this.entries.delete(id)) return;
    const result: Result = {
      type: 'result',
      job_id: id,
      measurement: outcome.ok ? outcome.measurement : null,
      error: outcome.ok ? null : outcome.error,
    };
    this.unacked.set(id, result);
    try {
      const tmp = `${this.resultFile(id)}.tmp`;
      await writeFile(tmp, JSON.stringify(result));
      await rename(tmp, this.resultFile(id));
    } catch (err) {
      this.deps.log(`could not keep result ${id} on disk: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.deps.log(
      `job ${id}: ${outcome.ok ? `median ${outcome.measurement.models[0]!.latency_ms.median.toFixed(4)} ms` : `${outcome.error.code}: ${outcome.error.message}`}`,
    );
    this.deps.send(this.outgoing(result));
  }
}
