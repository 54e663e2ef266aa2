/**
 * Jobs on the host: pick an agent (by name or tag), register the models, send the job, and wait for its
 * result. Job ids are idempotent (the same id is never measured twice); pending jobs are re-sent when
 * their agent reconnects; every result is acknowledged so the agent can drop it; a job whose agent went
 * quiet fails after its timeout with an error that says so.
 */
import { randomUUID } from 'node:crypto';
import { resolveSettings, type JobError, type Measurement, type MeasureSettings, type ModelRef } from '@s4op/shared';

/** What a job id may be: the protocol's id rule, checked where an id enters so nothing later can choke on it. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** A job id the protocol would refuse, or null when it is fine. */
export function jobIdProblem(id: unknown): string | null {
  if (typeof id !== 'string') return 'job_id must be a string';
  if (!JOB_ID_PATTERN.test(id))
    return `job_id ${JSON.stringify(id.slice(0, 80))} is not 1–128 characters of A–Z a–z 0–9 . _ : @ - (no spaces or slashes)`;
  return null;
}

/** One log line whatever a peer put in it: control characters (newlines, escapes) shown escaped. */
export function oneLine(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/[\u0000-\u001f\u007f]/g, (c) =>
    c === '\n'
      ? '\\n'
      : c === '\r'
        ? '\\r'
        : c === '\t'
          ? '\\t'
          : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** Text from a peer, safe for one log line: control characters (newlines) escaped, length bounded. */
export function logSafe(text: unknown, max = 80): string {
  const s = typeof text === 'string' ? text : (JSON.stringify(text) ?? String(text));
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return JSON.stringify(cut).slice(1, -1);
}
import type { AgentConnection, FleetServer } from './server.js';

export interface JobTarget {
  /** Agent name or id. */
  agent?: string;
  /** Any connected agent carrying this tag (the least busy one). */
  tag?: string;
}

export interface JobRequest {
  target: JobTarget;
  /** One model, or two for an A/B comparison (A first). */
  models: { bytes: Uint8Array; name?: string }[];
  settings?: unknown;
  job_id?: string;
  /** How long to wait for a matching agent to connect (default 10 s). */
  waitForAgentMs?: number;
  /** Extra time beyond settings.timeout_ms for model transfer and the agent's queue (default 60 s). */
  graceMs?: number;
}

export interface JobOutcome {
  job_id: string;
  agent: { id: string; name: string };
  measurement: Measurement;
}

export class JobFailed extends Error {
  override name = 'JobFailed';
  constructor(
    readonly code: JobError['code'] | 'no_agent' | 'duplicate_job' | 'bad_request' | 'ambiguous_agent',
    message: string,
    readonly job_id?: string,
  ) {
    super(message);
  }
}

interface Pending {
  job_id: string;
  agentId: string;
  agentName: string;
  mode: 'single' | 'ab';
  models: ModelRef[];
  settings: MeasureSettings;
  state: string;
  resolve: (o: JobOutcome) => void;
  reject: (e: JobFailed) => void;
  timer: NodeJS.Timeout | null;
  limitMs: number;
}

/** Why a measurement cannot be this job's result (its models are not the job's), or null. */
function measurementProblem(p: Pending, m: Measurement): string | null {
  if (m.mode !== p.mode) return `mode ${m.mode}, the job is ${p.mode}`;
  if (m.models.length !== p.models.length)
    return `${m.models.length} model(s) measured, the job has ${p.models.length}`;
  for (let i = 0; i < p.models.length; i++) {
    if (m.models[i]!.sha256 !== p.models[i]!.sha256)
      return `model ${i} measured is ${m.models[i]!.sha256.slice(0, 12)}…, the job's is ${p.models[i]!.sha256.slice(0, 12)}…`;
  }
  return null;
}

/** Finished outcomes kept to answer a repeated job id without measuring again. */
const DONE_LIMIT = 1000;

export class JobManager {
  private readonly pending = new Map<string, Pending>();
  private readonly done = new Map<string, JobOutcome>();
  /** Ids between submit() and their pending entry: taken synchronously so a duplicate is seen at once. */
  private readonly reserved = new Set<string>();
  /** How many jobs in flight use each model hash (so a finished job frees bytes in O(1)). */
  private readonly modelUse = new Map<string, number>();

  private readonly log: (line: string) => void;

  constructor(
    private readonly server: FleetServer,
    log?: (line: string) => void,
  ) {
    this.log = log ?? server.logLine;
    server.on('agent_down', (agent) => {
      // A job whose agent vanished gets its full deadline to see the agent back.
      for (const p of this.pending.values()) if (p.agentId === agent.id) this.arm(p);
    });
    server.on('agent_up', (agent) => {
      // Re-send what this agent still owes us: the agent answers repeated ids with status or result.
      for (const p of this.pending.values()) if (p.agentId === agent.id) this.sendJob(agent, p);
    });
    server.on('message', (agent, m) => {
      if (m.type === 'result') {
        const p = this.pending.get(m.job_id);
        if (!p) {
          // Ack so the agent can drop it: no job of this host will ever want it (a restarted host forgets its jobs).
          agent.send({ type: 'ack', job_id: m.job_id });
          this.log(
            `result for unknown job ${m.job_id} from ${agent.name} (${agent.id}) dropped: no job in flight has that id (the host restarted, or it timed out)`,
          );
          return;
        }
        if (p.agentId !== agent.id) {
          this.log(
            `result for job ${m.job_id} from ${agent.name} (${agent.id}) ignored: the job was sent to ${p.agentName} (${p.agentId})`,
          );
          agent.send({
            type: 'error',
            code: 'unknown_job',
            message: `job ${m.job_id} was not sent to this agent; result ignored`,
            job_id: m.job_id,
          });
          return;
        }
        agent.send({ type: 'ack', job_id: m.job_id });
        if (m.measurement) {
          const problem = measurementProblem(p, m.measurement);
          if (problem) {
            this.log(`result for job ${m.job_id} from ${agent.name} refused: ${problem}`);
            this.fail(
              p,
              'agent_error',
              `job ${m.job_id} on ${agent.name}: the result does not belong to this job: ${problem}`,
            );
            return;
          }
        }
        this.pending.delete(m.job_id);
        this.disarm(p);
        this.releaseModels(p);
        if (m.measurement) {
          const outcome = { job_id: m.job_id, agent: { id: agent.id, name: agent.name }, measurement: m.measurement };
          this.done.set(m.job_id, outcome);
          if (this.done.size > DONE_LIMIT) this.done.delete(this.done.keys().next().value!);
          p.resolve(outcome);
        } else {
          p.reject(new JobFailed(m.error!.code, `job ${m.job_id} on ${agent.name}: ${m.error!.message}`, m.job_id));
        }
      } else if (m.type === 'job_status') {
        const p = this.pending.get(m.job_id);
        if (!p || p.agentId !== agent.id) return;
        p.state = m.state;
        // Queued behind other jobs on a live agent: no deadline yet (the heartbeat watches the agent).
        // Waiting for bytes or running: the job's own timeout plus grace, from now.
        if (m.state === 'queued') this.disarm(p);
        else this.arm(p);
      } else if (m.type === 'error' && m.job_id) {
        const p = this.pending.get(m.job_id);
        if (p && p.agentId === agent.id && m.code === 'unknown_job')
          this.fail(p, 'cancelled', `job ${p.job_id} is not known to ${p.agentName}`);
      }
    });
  }

  /** Jobs in flight: id, agent, last reported state. */
  list(): { job_id: string; agent: string; state: string }[] {
    return [...this.pending.values()].map((p) => ({ job_id: p.job_id, agent: p.agentName, state: p.state }));
  }

  private pick(target: JobTarget): AgentConnection | undefined {
    if (target.agent) {
      const byId = this.server.agent(target.agent);
      if (byId) return byId;
      const named = this.server.agentsNamed(target.agent);
      if (named.length > 1) {
        throw new JobFailed(
          'ambiguous_agent',
          `${named.length} connected agents are named "${target.agent}" (${named.map((a) => a.id).join(', ')}): address one by its id`,
        );
      }
      return named[0];
    }
    const tagged = target.tag ? this.server.agentsTagged(target.tag) : this.server.agents();
    // Load of each candidate in one pass over the jobs in flight (not one pass per candidate).
    const load = new Map<string, number>();
    for (const p of this.pending.values()) load.set(p.agentId, (load.get(p.agentId) ?? 0) + 1);
    let best: AgentConnection | undefined;
    for (const a of tagged) if (!best || (load.get(a.id) ?? 0) < (load.get(best.id) ?? 0)) best = a;
    return best;
  }

  private async waitForAgent(target: JobTarget, ms: number): Promise<AgentConnection> {
    const found = this.pick(target);
    if (found) return found;
    return new Promise((resolve, reject) => {
      const onUp = () => {
        let a: AgentConnection | undefined;
        try {
          a = this.pick(target);
        } catch (err) {
          clearTimeout(timer);
          this.server.off('agent_up', onUp);
          reject(err as JobFailed);
          return;
        }
        if (a) {
          clearTimeout(timer);
          this.server.off('agent_up', onUp);
          resolve(a);
        }
      };
      const timer = setTimeout(() => {
        this.server.off('agent_up', onUp);
        const want = target.agent ? `named "${target.agent}"` : target.tag ? `tagged "${target.tag}"` : 'at all';
        const all = this.server.agents();
        const have =
          all
            .slice(0, 10)
            .map((a) => `${a.name}[${a.tags.slice(0, 4).join(',')}]`)
            .join(', ') + (all.length > 10 ? `, … ${all.length - 10} more` : '') || 'none';
        reject(new JobFailed('no_agent', `no agent ${want} connected within ${ms} ms (connected: ${have})`));
      }, ms);
      this.server.on('agent_up', onUp);
    });
  }

  private sendJob(agent: AgentConnection, p: Pending): void {
    agent.send({ type: 'job', job_id: p.job_id, mode: p.mode, models: p.models, settings: p.settings });
  }

  /** Drops model bytes no job in flight needs any more (an agent that lacks them later gets them re-sent with a new job). */
  private releaseModels(p: Pending): void {
    for (const m of p.models) {
      const left = (this.modelUse.get(m.sha256) ?? 1) - 1;
      if (left > 0) this.modelUse.set(m.sha256, left);
      else {
        this.modelUse.delete(m.sha256);
        this.server.models.delete(m.sha256);
      }
    }
  }

  private fail(p: Pending, code: JobFailed['code'], message: string): void {
    if (!this.pending.delete(p.job_id)) return;
    this.disarm(p);
    this.releaseModels(p);
    p.reject(new JobFailed(code, message, p.job_id));
  }

  /** Sends one measurement job and resolves with its figures; rejects with JobFailed naming the problem. */
  async submit(req: JobRequest): Promise<JobOutcome> {
    if (req.models.length < 1 || req.models.length > 2)
      throw new JobFailed('agent_error', `a job takes one model (or two for A/B), got ${req.models.length}`);
    let settings: MeasureSettings;
    try {
      settings = resolveSettings(req.settings);
    } catch (err) {
      throw new JobFailed('agent_error', (err as Error).message);
    }
    const job_id = req.job_id ?? randomUUID();
    const idProblem = jobIdProblem(job_id);
    if (idProblem) throw new JobFailed('bad_request', idProblem);
    const earlier = this.done.get(job_id);
    if (earlier) return earlier;
    if (this.pending.has(job_id) || this.reserved.has(job_id))
      throw new JobFailed('duplicate_job', `job ${job_id} is already in flight`, job_id);
    this.reserved.add(job_id);
    let agent: AgentConnection;
    try {
      agent = await this.waitForAgent(req.target, req.waitForAgentMs ?? 10_000);
    } finally {
      this.reserved.delete(job_id);
    }
    const models = req.models.map((m) => this.server.models.add(m.bytes, m.name));
    const limitMs = settings.timeout_ms + (req.graceMs ?? 60_000);
    return new Promise<JobOutcome>((resolve, reject) => {
      const p: Pending = {
        job_id,
        agentId: agent.id,
        agentName: agent.name,
        mode: models.length === 2 ? 'ab' : 'single',
        models,
        settings,
        state: 'sent',
        resolve,
        reject,
        timer: null,
        limitMs,
      };
      this.pending.set(job_id, p);
      for (const m of models) this.modelUse.set(m.sha256, (this.modelUse.get(m.sha256) ?? 0) + 1);
      this.arm(p);
      this.sendJob(agent, p);
    });
  }

  /** (Re)starts a job's deadline: its timeout plus grace for transfer, from now. */
  private arm(p: Pending): void {
    this.disarm(p);
    p.timer = setTimeout(() => {
      this.fail(
        p,
        'timeout',
        `job ${p.job_id} on ${p.agentName} got no result within ${p.limitMs} ms (last state: ${p.state}); cancelled`,
      );
      try {
        this.server.agent(p.agentId)?.send({ type: 'cancel', job_id: p.job_id });
      } catch (err) {
        // A timer must never throw: the process would exit.
        this.log(`could not cancel job ${logSafe(p.job_id)}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }, p.limitMs);
  }

  private disarm(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
  }

  /** Fails every job in flight (the server is stopping); agents keep their results for the next host. */
  close(): void {
    for (const p of [...this.pending.values()])
      this.fail(p, 'agent_error', `job ${p.job_id}: the host stopped before ${p.agentName} delivered a result`);
  }

  /** Asks the agent to stop a job; the pending promise rejects with `cancelled` when the agent confirms. */
  cancel(job_id: string): boolean {
    const p = this.pending.get(job_id);
    if (!p) return false;
    this.server.agent(p.agentId)?.send({ type: 'cancel', job_id });
    return true;
  }
}
