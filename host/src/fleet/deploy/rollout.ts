/**
 * The staged rollout of one deployment, on plain interfaces (what an agent can be asked to do, and where
 * the outcome is recorded), so it runs the same against real agents and in unit tests:
 *   for each stage (canary, then waves): every agent of the stage installs the model (push only if it lacks
 *   the hash, verify, store, load, warm up, field measurement) and is gated; only when every agent of the
 *   stage passed are they activated. A failed install, load, gate or activation stops the rollout: failed
 *   agents keep (or are rolled back to) their previous model, agents of the stage that passed are held back,
 *   later stages are skipped, and the reason is recorded. An agent that is away when its turn comes is
 *   marked offline and converges on its own when it reconnects (`convergeAgent`).
 */
import type { Measurement } from '@s4op/shared';
import { evaluateGate, fieldFigures, type Figures, type GateOutcome, type GateTerm } from './gate.js';
import type { DeploymentAgentRecord, DeploymentRecord, DeploymentStore, LabRecord } from './store.js';

/** `pushed_bytes`: model bytes sent to the agent for this install (0 when it had the hash already). */
export type InstallOutcome =
  | { kind: 'measured'; measurement: Measurement; pushed_bytes?: number }
  | { kind: 'failed'; reason: string }
  | { kind: 'offline' };
export type ActivateOutcome =
  { kind: 'active'; previous_sha256: string | null } | { kind: 'failed'; reason: string } | { kind: 'offline' };

/** What the rollout can ask of one agent of the fleet. */
export interface AgentOps {
  online(agent_id: string): boolean;
  install(d: DeploymentRecord, agent_id: string): Promise<InstallOutcome>;
  activate(d: DeploymentRecord, agent_id: string): Promise<ActivateOutcome>;
  /** Restores the agent's previous model if this deployment's model is active there. */
  rollback(d: DeploymentRecord, agent_id: string): Promise<{ ok: boolean; reason?: string }>;
  /** The agent now serves the deployment's model: it becomes the host's desired state for it. */
  activated?(d: DeploymentRecord, agent_id: string): void;
  log?(line: string): void;
}

export function labFigures(lab: LabRecord | null): Figures | null {
  if (!lab) return null;
  return { p50: lab.p50_ms, p90: lab.p90_ms, p99: lab.p99_ms, mean: lab.mean_ms, rss: lab.rss_mb };
}

type Gated = { agent: DeploymentAgentRecord; result: 'passed' | 'failed' | 'offline'; reason?: string };

const short = (sha: string) => `${sha.slice(0, 12)}…`;

/** Install + field measurement + gate for one agent; records the outcome (failed agents are rolled back). */
async function installAndGate(
  store: DeploymentStore,
  ops: AgentOps,
  d: DeploymentRecord,
  gate: GateTerm[],
  row: DeploymentAgentRecord,
): Promise<Gated> {
  const offline = (): Gated => {
    store.updateAgent(d.id, row.agent_id, {
      state: 'offline',
      reason: `${row.agent_name} was away when its stage ran: it converges when it reconnects`,
    });
    return { agent: row, result: 'offline' };
  };
  if (!ops.online(row.agent_id)) return offline();
  store.updateAgent(d.id, row.agent_id, { state: 'installing', reason: null });
  const out = await ops.install(d, row.agent_id);
  if (out.kind === 'offline') return offline();
  if (out.kind === 'failed') {
    const reason = `install failed on ${row.agent_name}: ${out.reason}`;
    store.updateAgent(d.id, row.agent_id, { state: 'rolled_back', reason });
    return { agent: row, result: 'failed', reason };
  }
  const outcome: GateOutcome = evaluateGate(gate, fieldFigures(out.measurement), labFigures(d.lab));
  const field = { ...summarizeField(out.measurement), pushed_bytes: out.pushed_bytes ?? null };
  if (!outcome.pass) {
    const reason = `gate failed on ${row.agent_name}: ${outcome.checks
      .filter((c) => !c.pass)
      .map((c) => c.why ?? c.term)
      .join('; ')}`;
    store.updateAgent(d.id, row.agent_id, { state: 'rolled_back', reason, field, gate_result: outcome });
    return { agent: row, result: 'failed', reason };
  }
  store.updateAgent(d.id, row.agent_id, { state: 'installing', reason: null, field, gate_result: outcome });
  return { agent: row, result: 'passed' };
}

/** The field measurement as recorded: the figures the gate reads plus where and how they were taken. */
export function summarizeField(m: Measurement) {
  const f = fieldFigures(m);
  return {
    p50_ms: f.p50,
    p90_ms: f.p90,
    p99_ms: f.p99,
    mean_ms: f.mean,
    rss_mb: f.rss,
    load_ms: m.models[0]!.load_ms,
    samples: m.models[0]!.latency_ms.n,
    runtime: `${m.runtime.name} ${m.runtime.version}`,
    threads: m.settings.threads,
    throttled: m.thermal.throttled,
    started_at: m.started_at,
  };
}

async function activateOne(
  store: DeploymentStore,
  ops: AgentOps,
  d: DeploymentRecord,
  row: DeploymentAgentRecord,
): Promise<Gated> {
  const out = await ops.activate(d, row.agent_id);
  if (out.kind === 'offline') {
    store.updateAgent(d.id, row.agent_id, {
      state: 'offline',
      reason: `${row.agent_name} went away before activation: it converges when it reconnects`,
    });
    return { agent: row, result: 'offline' };
  }
  if (out.kind === 'failed') {
    const reason = `activation failed on ${row.agent_name}: ${out.reason} (its previous model stays active)`;
    store.updateAgent(d.id, row.agent_id, { state: 'rolled_back', reason });
    return { agent: row, result: 'failed', reason };
  }
  store.updateAgent(d.id, row.agent_id, { state: 'active', reason: null, previous_sha256: out.previous_sha256 });
  ops.activated?.(d, row.agent_id);
  return { agent: row, result: 'passed' };
}

function stop(store: DeploymentStore, d: DeploymentRecord, stageIndex: number, reason: string, ops: AgentOps): void {
  for (const r of store.agents(d.id)) {
    if (r.stage > stageIndex && (r.state === 'pending' || r.state === 'offline')) {
      store.updateAgent(d.id, r.agent_id, {
        state: 'skipped',
        reason: `rollout stopped at ${d.plan[stageIndex]?.name ?? `stage ${stageIndex}`}`,
      });
    }
    if (r.stage === stageIndex && r.state === 'offline') {
      store.updateAgent(d.id, r.agent_id, {
        state: 'skipped',
        reason: `rollout stopped at ${d.plan[stageIndex]?.name ?? `stage ${stageIndex}`} while ${r.agent_name} was away`,
      });
    }
  }
  store.finish(d.id, 'failed', reason);
  ops.log?.(`deployment ${d.id} failed: ${reason}`);
}

/** Runs (or resumes, after a server restart) a deployment from its current stage to the end. */
export async function runRollout(
  store: DeploymentStore,
  ops: AgentOps,
  deploymentId: string,
  gate: GateTerm[],
): Promise<DeploymentRecord> {
  let d = store.get(deploymentId);
  if (!d) throw new Error(`no deployment ${deploymentId}`);
  for (let s = d.current_stage; s < d.plan.length; s++) {
    store.setStage(d.id, s);
    d = store.get(d.id)!;
    const stage = d.plan[s]!;
    ops.log?.(
      `deployment ${d.id}: ${stage.name} (${stage.agents.length} agent${stage.agents.length === 1 ? '' : 's'}) installs ${short(d.model_sha256)}`,
    );
    const rows = store.agents(d.id).filter((r) => r.stage === s && (r.state === 'pending' || r.state === 'installing'));
    const gated = await Promise.all(rows.map((r) => installAndGate(store, ops, d!, gate, r)));
    const failed = gated.filter((g) => g.result === 'failed');
    const passed = gated.filter((g) => g.result === 'passed');
    if (failed.length) {
      const why = failed.map((f) => f.reason).join('; ');
      for (const p of passed)
        store.updateAgent(d.id, p.agent.agent_id, {
          state: 'held',
          reason: `passed, but not activated: ${stage.name} failed (${why})`,
        });
      stop(store, d, s, `${stage.name}: ${why}`, ops);
      return store.get(d.id)!;
    }
    if (s === 0 && stage.name === 'canary' && passed.length === 0 && stage.agents.length > 0) {
      stop(store, d, s, 'canary: no canary agent was online to prove the model', ops);
      return store.get(d.id)!;
    }
    const acts = await Promise.all(passed.map((p) => activateOne(store, ops, d!, p.agent)));
    const actFailed = acts.filter((a) => a.result === 'failed');
    if (actFailed.length) {
      const why = actFailed.map((f) => f.reason).join('; ');
      // The stage goes back as a whole: agents that did switch restore their previous model.
      for (const a of acts.filter((x) => x.result === 'passed')) {
        const r = await ops.rollback(d, a.agent.agent_id);
        store.updateAgent(d.id, a.agent.agent_id, {
          state: r.ok ? 'rolled_back' : 'active',
          reason: r.ok
            ? `rolled back: ${stage.name} failed (${why})`
            : `rollback failed (${r.reason ?? 'unknown'}) after ${stage.name} failed (${why})`,
        });
      }
      stop(store, d, s, `${stage.name}: ${why}`, ops);
      return store.get(d.id)!;
    }
  }
  const rows = store.agents(d.id);
  const away = rows.filter((r) => r.state === 'offline').map((r) => r.agent_name);
  store.finish(
    d.id,
    'succeeded',
    away.length
      ? `${away.join(', ')} offline: ${away.length === 1 ? 'it converges' : 'they converge'} on reconnect`
      : null,
  );
  ops.log?.(
    `deployment ${d.id} succeeded on ${rows.filter((r) => r.state === 'active').length} of ${rows.length} agents${away.length ? ` (${away.length} offline)` : ''}`,
  );
  return store.get(d.id)!;
}

/**
 * Brings one reconnected agent to the deployment's model: install, gate, activate, as its stage would have.
 * A failure leaves its previous model active and is recorded on its row (the deployment's status stays).
 */
export async function convergeAgent(
  store: DeploymentStore,
  ops: AgentOps,
  deploymentId: string,
  agent_id: string,
  gate: GateTerm[],
): Promise<DeploymentAgentRecord | undefined> {
  const d = store.get(deploymentId);
  const row = store.agent(deploymentId, agent_id);
  if (!d || !row || d.status === 'failed' || d.status === 'rolled_back') return row;
  ops.log?.(`deployment ${d.id}: ${row.agent_name} is back; converging it to ${short(d.model_sha256)}`);
  const g = await installAndGate(store, ops, d, gate, row);
  if (g.result === 'passed') await activateOne(store, ops, d, row);
  const after = store.agent(deploymentId, agent_id)!;
  if (d.status === 'succeeded') {
    const away = store
      .agents(d.id)
      .filter((r) => r.state === 'offline')
      .map((r) => r.agent_name);
    const failedHere = after.state === 'rolled_back' ? `; ${after.agent_name} failed to converge: ${after.reason}` : '';
    store.finish(
      d.id,
      'succeeded',
      (away.length ? `${away.join(', ')} offline: converge on reconnect` : '') + failedHere || null,
    );
  }
  return after;
}
