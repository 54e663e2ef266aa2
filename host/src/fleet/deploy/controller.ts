/**
 * Deployments inside the server process: validates a request (selector, gate, canary, waves, settings),
 * keeps the model bytes on disk by hash (so an agent that returns days later can still get them), records
 * the deployment and runs its rollout against the live agents. The install is an ordinary measurement job
 * (content-addressed push, hash check and atomic store on the agent, load, warm-up, field measurement);
 * activation and rollback are protocol messages answered with the agent's model state. An agent that
 * (re)connects reports what it serves in its hello: the controller converges it to the desired state.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  isBrowserDevice,
  resolveSettings,
  sha256Hex,
  type ActiveModelState,
  type MeasureSettings,
  type ModelStateMessage,
} from '@s4op/shared';
import type { RunStore } from '../../store/run-store.js';
import { checkGateAgainstLab, gateText, parseGate, GateError, type GateTerm } from './gate.js';
import { parseCanary, parseSelector, parseWaves, planStages, selectAgents, selectorText, PlanError } from './plan.js';
import {
  convergeAgent,
  labFigures,
  runRollout,
  type ActivateOutcome,
  type AgentOps,
  type InstallOutcome,
} from './rollout.js';
import { DeploymentStore, type DeploymentRecord, type LabRecord, type ModelSource } from './store.js';
import { JobFailed, type JobManager, type JobOutcome } from '../link/jobs.js';
import type { FleetAgentRecord, StoreAgentRegistry } from '../link/registry-store.js';
import type { AgentConnection, FleetServer } from '../link/server.js';

/** Field measurement defaults: short enough for a rollout, long enough for a p99 (any field can be overridden). */
export const FIELD_SETTINGS = {
  warmup_ms: 250,
  warmup_runs: 10,
  min_duration_ms: 1000,
  min_samples: 100,
  timeout_ms: 120_000,
};
const REPLY_TIMEOUT_MS = 60_000;
const RESUME_GRACE_MS = 20_000;

export interface DeployRequest {
  model: { bytes: Uint8Array; name?: string; source?: ModelSource };
  to: string;
  canary?: string;
  waves?: number | string;
  gate?: string;
  settings?: unknown;
  lab?: LabRecord | null;
}

interface Waiter {
  agent: string;
  pred: (m: ModelStateMessage) => boolean;
  resolve: (m: ModelStateMessage | 'offline') => void;
}

export class DeployError extends Error {
  override name = 'DeployError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class DeployController {
  readonly deployments: DeploymentStore;
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly inflight = new Map<string, Promise<JobOutcome>>();
  private readonly converging = new Set<string>();
  private readonly waiters = new Set<Waiter>();
  /** Per-agent watchers (one listener on the server for all of them, not one per install: a fleet has thousands). */
  private readonly downWatch = new Map<string, Set<() => void>>();
  private readonly askWatch = new Map<string, Set<(sha256: string) => void>>();
  private readonly modelsDir: string;
  private closed = false;

  constructor(
    private readonly server: FleetServer,
    private readonly jobs: JobManager,
    readonly registry: StoreAgentRegistry,
    store: RunStore,
    workspace: string,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.deployments = new DeploymentStore(store);
    this.modelsDir = path.join(workspace, 'models');
    server.on('agent_up', (agent) => this.onAgentUp(agent));
    server.on('agent_down', (agent) => {
      if (this.server.agent(agent.id)) return; // replaced by a newer connection, not gone
      for (const w of [...this.waiters]) if (w.agent === agent.id) this.settle(w, 'offline');
      for (const f of [...(this.downWatch.get(agent.id) ?? [])]) f();
    });
    server.on('message', (agent, m) => {
      this.registry.touch(agent.id);
      if (m.type === 'need_model') for (const f of this.askWatch.get(agent.id) ?? []) f(m.sha256);
      if (m.type !== 'model_state') return;
      this.registry.setActual(agent.id, m.state);
      for (const w of [...this.waiters]) if (w.agent === agent.id && w.pred(m)) this.settle(w, m);
    });
  }

  /**
   * Picks up deployments a previous server process left running, once the agents of their current stage
   * have had time to reconnect (they back off for up to 15 s), so a restart does not mark them offline.
   */
  resume(graceMs = RESUME_GRACE_MS): void {
    for (const d of this.deployments.running()) {
      const waiting = this.deployments
        .agents(d.id)
        .filter((r) => r.stage === d.current_stage && (r.state === 'pending' || r.state === 'installing'));
      this.log(
        `deployment ${d.id}: resuming at ${d.plan[d.current_stage]?.name ?? 'the end'} once its ${waiting.length} agent(s) are back (at most ${graceMs} ms)`,
      );
      const gate = this.allOnline(
        waiting.map((r) => r.agent_id),
        graceMs,
      ).then(() => {
        if (!this.closed) this.start(d.id);
      });
      this.running.set(d.id, gate);
    }
  }

  private allOnline(ids: string[], ms: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.closed || ids.every((id) => this.server.agent(id))) done();
      };
      const done = () => {
        clearTimeout(timer);
        this.server.off('agent_up', check);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.server.on('agent_up', check);
      check();
    });
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.waiters]) this.settle(w, 'offline');
  }

  private settle(w: Waiter, m: ModelStateMessage | 'offline'): void {
    this.waiters.delete(w);
    w.resolve(m);
  }

  private gateOf(d: DeploymentRecord): GateTerm[] {
    return parseGate(d.gate === '' ? null : d.gate);
  }

  private start(id: string): void {
    const d = this.deployments.get(id)!;
    const run = runRollout(this.deployments, this.ops, id, this.gateOf(d))
      .catch((err: unknown) => {
        const why = `internal error: ${err instanceof Error ? err.message : String(err)}`;
        this.log(`deployment ${id}: ${why}`);
        this.deployments.finish(id, 'failed', why);
      })
      .finally(() => this.running.delete(id));
    this.running.set(id, run);
  }

  /** Validates and records a deployment, then starts its rollout; errors name the problem. */
  async create(req: DeployRequest): Promise<DeploymentRecord> {
    if (!req.model.bytes.length) throw new DeployError('bad_model', 'the model is empty (0 bytes)');
    const plan = this.plan(req);
    const sha256 = await this.keepModel(req.model.bytes);
    // Checked again right before the record is written (synchronously): two requests cannot both take an agent.
    this.checkNotBusy(plan.picked);
    const id = `dep-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
    const stageOf = new Map(plan.stages.flatMap((s, i) => s.agents.map((a) => [a, i] as const)));
    const d = this.deployments.create({
      id,
      model_sha256: sha256,
      model_name: req.model.name ?? null,
      model_bytes: req.model.bytes.length,
      source: req.model.source ?? { kind: 'file' },
      selector: req.to,
      canary: plan.canary,
      waves: plan.waves,
      gate: plan.gate.map((t) => t.text).join(', '),
      settings: plan.settings as unknown as Record<string, unknown>,
      lab: req.lab ?? null,
      plan: plan.stages,
      agents: plan.picked.map((a) => ({ id: a.id, name: a.name, stage: stageOf.get(a.id)! })),
    });
    this.log(
      `deployment ${id}: ${req.model.name ?? 'model'} ${sha256.slice(0, 12)}… to ${req.to}: ${plan.stages.map((s) => `${s.name} ${s.agents.length}`).join(', ')}; gate ${gateText(plan.gate)}`,
    );
    this.start(id);
    return d;
  }

  /** Selector, gate, stages and field settings of a request, or the DeployError that names what is wrong. */
  private plan(req: DeployRequest) {
    const canary = (req.canary ?? '10%').trim();
    try {
      const terms = parseSelector(req.to);
      const gate = parseGate(req.gate);
      checkGateAgainstLab(gate, labFigures(req.lab ?? null));
      const waves = parseWaves(req.waves);
      const online = new Set(this.server.agents().map((a) => a.id));
      const picked = selectAgents(
        terms,
        this.registry.list().map((a) => ({ ...a, online: online.has(a.id) })),
      );
      const tabs = picked.filter((a) => isBrowserDevice(a.device));
      if (tabs.length) {
        throw new PlanError(
          `${selectorText(terms)} selects browser agent${tabs.length === 1 ? '' : 's'} ${tabs.map((a) => a.name).join(', ')}: a browser tab measures but cannot hold or serve a deployed model; deploy to board agents only (browser tabs carry the tag "browser")`,
        );
      }
      if (!picked.some((a) => a.online)) {
        throw new PlanError(
          `none of the ${picked.length} agent${picked.length === 1 ? '' : 's'} that ${selectorText(terms)} selects is online (${picked.map((a) => `${a.name}, last seen ${a.last_seen}`).join('; ')}): a rollout needs an online canary`,
        );
      }
      this.checkNotBusy(picked);
      const stages = planStages(picked, parseCanary(canary), waves);
      // The field measurement runs like the lab one (runtime, threads, shapes), unless told otherwise.
      const fromLab = req.lab?.settings
        ? pick(req.lab.settings, [
            'runtime',
            'threads',
            'graph_optimization',
            'arena',
            'spin',
            'dims',
            'default_dim',
            'shapes',
          ])
        : {};
      const settings: MeasureSettings = resolveSettings({
        ...FIELD_SETTINGS,
        ...fromLab,
        ...((req.settings as object | undefined) ?? {}),
      });
      return { canary, gate, waves, picked, stages, settings };
    } catch (err) {
      if (err instanceof PlanError || err instanceof GateError)
        throw new DeployError(err instanceof GateError ? 'bad_gate' : 'bad_target', err.message);
      if (err instanceof Error && err.message.startsWith('measurement settings'))
        throw new DeployError('bad_settings', err.message);
      throw err;
    }
  }

  private checkNotBusy(picked: FleetAgentRecord[]): void {
    for (const d of this.deployments.running()) {
      const busy = this.deployments
        .agents(d.id)
        .filter((r) => picked.some((a) => a.id === r.agent_id))
        .map((r) => r.agent_name);
      if (busy.length)
        throw new DeployError(
          'busy',
          `${busy.join(', ')} ${busy.length === 1 ? 'is' : 'are'} in deployment ${d.id}, still running: wait for it to finish`,
        );
    }
  }

  /**
   * Rolls a finished deployment back on request: every agent serving its model restores its previous one,
   * which becomes the desired state again. Agents that are away roll back when they reconnect.
   */
  async rollback(id: string): Promise<DeploymentRecord> {
    const d = this.deployments.get(id);
    if (!d) throw new DeployError('unknown_deployment', `no deployment ${id}`);
    if (d.status === 'running')
      throw new DeployError('still_running', `deployment ${id} is still running: wait for it to finish`);
    if (d.status === 'rolled_back') return d;
    const notes: string[] = [];
    let restored = 0;
    for (const r of this.deployments.agents(id)) {
      if (r.state === 'offline')
        this.deployments.updateAgent(id, r.agent_id, {
          state: 'skipped',
          reason: 'deployment rolled back before it converged',
        });
      if (r.state !== 'active') continue;
      if (!this.server.agent(r.agent_id)) {
        notes.push(`${r.agent_name} is away (it rolls back when it reconnects)`);
        this.deployments.updateAgent(id, r.agent_id, {
          state: 'active',
          reason: 'rollback requested while away: it rolls back when it reconnects',
        });
        continue;
      }
      const out = await this.ops.rollback(d, r.agent_id);
      if (!out.ok) {
        notes.push(`${r.agent_name}: ${out.reason ?? 'rollback failed'}`);
        this.deployments.updateAgent(id, r.agent_id, {
          state: 'active',
          reason: `rollback requested, but ${out.reason ?? 'it failed'}`,
        });
        continue;
      }
      restored++;
      const rec = this.registry.get(r.agent_id);
      this.registry.setDesired(r.agent_id, rec?.active_sha256 ?? null, rec?.active_deployment ?? null);
      this.deployments.updateAgent(id, r.agent_id, {
        state: 'rolled_back',
        reason: `rolled back on request to ${rec?.active_sha256 ? `${rec.active_sha256.slice(0, 12)}…` : 'no model'}`,
      });
    }
    this.deployments.finish(
      id,
      'rolled_back',
      `rolled back on request: ${restored} agent${restored === 1 ? '' : 's'} restored${notes.length ? `; not restored: ${notes.join('; ')}` : ''}`,
    );
    this.log(`deployment ${id} rolled back (${restored} restored)`);
    return this.deployments.get(id)!;
  }

  private modelFile(sha256: string): string {
    return path.join(this.modelsDir, `${sha256}.onnx`);
  }

  private async keepModel(bytes: Uint8Array): Promise<string> {
    const sha256 = sha256Hex(bytes);
    await mkdir(this.modelsDir, { recursive: true });
    const tmp = `${this.modelFile(sha256)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, bytes);
    await rename(tmp, this.modelFile(sha256));
    return sha256;
  }

  private wait(
    agent: string,
    pred: (m: ModelStateMessage) => boolean,
  ): Promise<ModelStateMessage | 'offline' | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        resolve('timeout');
      }, REPLY_TIMEOUT_MS);
      const w: Waiter = {
        agent,
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      this.waiters.add(w);
    });
  }

  /** Resolves 'offline' when the agent drops (for good, not replaced). */
  private downOf(agent: string): { promise: Promise<'offline'>; cancel: () => void } {
    let onDown: () => void = () => undefined;
    const promise = new Promise<'offline'>((resolve) => {
      onDown = () => resolve('offline');
      watch(this.downWatch, agent, onDown);
    });
    return { promise, cancel: () => unwatch(this.downWatch, agent, onDown) };
  }

  private readonly ops: AgentOps = {
    online: (id) => !this.closed && Boolean(this.server.agent(id)),
    install: async (d, id): Promise<InstallOutcome> => {
      const job_id = `d-${d.id}-${id}`.slice(0, 128);
      let job = this.inflight.get(job_id);
      if (!job) {
        let bytes: Uint8Array;
        try {
          bytes = await readFile(this.modelFile(d.model_sha256));
        } catch (err) {
          return { kind: 'failed', reason: `the server lost the model bytes (${(err as Error).message})` };
        }
        job = this.jobs.submit({
          target: { agent: id },
          models: [{ bytes, name: d.model_name ?? undefined }],
          settings: d.settings,
          job_id,
          waitForAgentMs: 2000,
        });
        this.inflight.set(job_id, job);
        const forget = () => this.inflight.delete(job_id);
        job.then(forget, forget);
      }
      const down = this.downOf(id);
      // Content-addressed push: bytes travel only if the agent asks for the hash.
      let pushed = 0;
      const onAsk = (sha256: string) => {
        if (sha256 === d.model_sha256) pushed = d.model_bytes;
      };
      watch(this.askWatch, id, onAsk);
      try {
        const r = await Promise.race([job, down.promise]);
        if (r === 'offline') return { kind: 'offline' };
        return { kind: 'measured', measurement: r.measurement, pushed_bytes: pushed };
      } catch (err) {
        if (err instanceof JobFailed) {
          if (err.code === 'no_agent' || (!this.server.agent(id) && err.code !== 'bad_model'))
            return { kind: 'offline' };
          return { kind: 'failed', reason: `${err.code}: ${err.message}` };
        }
        return { kind: 'failed', reason: err instanceof Error ? err.message : String(err) };
      } finally {
        down.cancel();
        unwatch(this.askWatch, id, onAsk);
      }
    },
    activate: async (d, id): Promise<ActivateOutcome> => {
      const conn = this.server.agent(id);
      if (!conn) return { kind: 'offline' };
      const reply = this.wait(id, (m) => m.request === 'activate' && m.deployment_id === d.id);
      conn.send({
        type: 'activate',
        deployment_id: d.id,
        model: {
          sha256: d.model_sha256,
          size: d.model_bytes,
          ...(d.model_name ? { name: d.model_name.slice(0, 256) } : {}),
        },
      });
      const m = await reply;
      if (m === 'offline') return { kind: 'offline' };
      if (m === 'timeout') return { kind: 'failed', reason: `no answer to activate within ${REPLY_TIMEOUT_MS} ms` };
      if (m.error) return { kind: 'failed', reason: `${m.error.code}: ${m.error.message}` };
      if (m.state.active?.sha256 !== d.model_sha256)
        return {
          kind: 'failed',
          reason: `the agent reports ${m.state.active?.sha256.slice(0, 12) ?? 'no model'} active`,
        };
      return { kind: 'active', previous_sha256: m.state.previous?.sha256 ?? null };
    },
    rollback: async (d, id) => {
      const conn = this.server.agent(id);
      if (!conn) return { ok: false, reason: 'agent offline' };
      const reply = this.wait(id, (m) => m.request === 'rollback' && m.deployment_id === d.id);
      conn.send({ type: 'rollback', deployment_id: d.id });
      const m = await reply;
      if (m === 'offline' || m === 'timeout') return { ok: false, reason: m };
      return m.error ? { ok: false, reason: m.error.message } : { ok: true };
    },
    activated: (d, id) => this.registry.setDesired(id, d.model_sha256, d.id),
    log: (l) => this.log(l),
  };

  private onAgentUp(agent: AgentConnection): void {
    const state: ActiveModelState = agent.hello.model_state ?? { active: null, previous: null };
    this.registry.setActual(agent.id, state);
    if (this.converging.has(agent.id) || this.closed) return;
    // Away when its deployment was rolled back: it restores its previous model now.
    const from = state.active?.deployment_id ? this.deployments.get(state.active.deployment_id) : undefined;
    if (from?.status === 'rolled_back') {
      this.converging.add(agent.id);
      void this.ops
        .rollback(from, agent.id)
        .then((r) => {
          const rec = this.registry.get(agent.id);
          if (r.ok) this.registry.setDesired(agent.id, rec?.active_sha256 ?? null, rec?.active_deployment ?? null);
          this.deployments.updateAgent(from.id, agent.id, {
            state: r.ok ? 'rolled_back' : 'active',
            reason: r.ok
              ? `rolled back on reconnect to ${rec?.active_sha256 ? `${rec.active_sha256.slice(0, 12)}…` : 'no model'}`
              : `rollback on reconnect failed: ${r.reason ?? 'unknown'}`,
          });
        })
        .finally(() => this.converging.delete(agent.id));
      return;
    }
    // Rows this process is running right now are the rollout's own business; the rest wait for this agent.
    let rows = this.deployments
      .waitingFor(agent.id)
      .filter((r) => r.state === 'offline' || !this.running.has(r.deployment_id));
    const rec = this.registry.get(agent.id);
    if (!rows.length && rec?.desired_sha256 && rec.desired_deployment && state.active?.sha256 !== rec.desired_sha256) {
      const row = this.deployments.agent(rec.desired_deployment, agent.id);
      if (row) {
        this.deployments.updateAgent(row.deployment_id, agent.id, {
          state: 'offline',
          reason: `${agent.name} reported ${state.active ? `${state.active.sha256.slice(0, 12)}…` : 'no model'} instead of the desired ${rec.desired_sha256.slice(0, 12)}…`,
        });
        rows = [this.deployments.agent(row.deployment_id, agent.id)!];
      }
    }
    if (!rows.length) return;
    // Only the newest deployment matters: converging to an older one first would be undone at once.
    const newest = rows.sort((a, b) =>
      this.deployments.get(b.deployment_id)!.created_at > this.deployments.get(a.deployment_id)!.created_at ? 1 : -1,
    )[0]!;
    for (const r of rows.slice(1))
      this.deployments.updateAgent(r.deployment_id, agent.id, {
        state: 'skipped',
        reason: `superseded by deployment ${newest.deployment_id}`,
      });
    this.converging.add(agent.id);
    const d = this.deployments.get(newest.deployment_id)!;
    void convergeAgent(this.deployments, this.ops, d.id, agent.id, this.gateOf(d))
      .catch((err: unknown) =>
        this.log(`converging ${agent.name}: ${err instanceof Error ? err.message : String(err)}`),
      )
      .finally(() => this.converging.delete(agent.id));
  }
}

function watch<F>(m: Map<string, Set<F>>, key: string, f: F): void {
  let set = m.get(key);
  if (!set) m.set(key, (set = new Set()));
  set.add(f);
}

function unwatch<F>(m: Map<string, Set<F>>, key: string, f: F): void {
  const set = m.get(key);
  if (!set) return;
  set.delete(f);
  if (!set.size) m.delete(key);
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
