/**
 * Deployments in the run store: the model hash and where it came from, the lab measurement it was chosen
 * on, the gate, the plan (stages of agent ids), the status with its reason, and one row per agent with its
 * stage, state, field measurement, gate checks and the reason for any failure. Every write is a transaction.
 */
import type { RunStore } from '../../store/run-store.js';
import type { GateOutcome } from './gate.js';
import type { Stage } from './plan.js';

/** rolled_back: succeeded (or partly), then rolled back on request. */
export type DeploymentStatus = 'running' | 'succeeded' | 'failed' | 'rolled_back';
/**
 * pending: not reached yet · installing: push, verify, load and field measurement under way · offline: away
 * when its turn came (converges when it reconnects) · active: gate passed, serving the model · failed and
 * rolled_back: install, load, gate or activation failed and the previous model is served · held: passed, but its
 * stage failed, so it was not activated · skipped: the rollout stopped before its stage.
 */
export type AgentDeployState = 'pending' | 'installing' | 'offline' | 'active' | 'rolled_back' | 'held' | 'skipped';

export interface LabRecord {
  agent: string;
  runtime: string | null;
  runtime_version: string | null;
  threads: number | null;
  settings: Record<string, unknown> | null;
  export_mode: string | null;
  export_variant: string | null;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  mean_ms: number | null;
  rss_mb: number | null;
  measured_at: string | null;
}

export interface ModelSource {
  kind: 'candidate' | 'file';
  candidate_id?: number;
  run_id?: string;
  path?: string;
}

export interface DeploymentRecord {
  id: string;
  created_at: string;
  updated_at: string;
  status: DeploymentStatus;
  model_sha256: string;
  model_name: string | null;
  model_bytes: number;
  source: ModelSource;
  selector: string;
  canary: string;
  waves: number;
  gate: string;
  settings: Record<string, unknown>;
  lab: LabRecord | null;
  plan: Stage[];
  current_stage: number;
  reason: string | null;
}

export interface DeploymentAgentRecord {
  deployment_id: string;
  agent_id: string;
  agent_name: string;
  stage: number;
  state: AgentDeployState;
  previous_sha256: string | null;
  field: unknown;
  gate_result: GateOutcome | null;
  reason: string | null;
  updated_at: string;
}

type Row = Record<string, unknown>;
const now = () => new Date().toISOString();
const parse = <T>(v: unknown): T | null => (typeof v === 'string' ? (JSON.parse(v) as T) : null);

function deploymentFrom(r: Row): DeploymentRecord {
  return {
    id: r.id as string,
    created_at: r.created_at as string,
    updated_at: r.updated_at as string,
    status: r.status as DeploymentStatus,
    model_sha256: r.model_sha256 as string,
    model_name: (r.model_name as string | null) ?? null,
    model_bytes: r.model_bytes as number,
    source: parse<ModelSource>(r.source)!,
    selector: r.selector as string,
    canary: r.canary as string,
    waves: r.waves as number,
    gate: r.gate as string,
    settings: parse<Record<string, unknown>>(r.settings) ?? {},
    lab: parse<LabRecord>(r.lab),
    plan: parse<Stage[]>(r.plan) ?? [],
    current_stage: r.current_stage as number,
    reason: (r.reason as string | null) ?? null,
  };
}

function agentFrom(r: Row): DeploymentAgentRecord {
  return {
    deployment_id: r.deployment_id as string,
    agent_id: r.agent_id as string,
    agent_name: r.agent_name as string,
    stage: r.stage as number,
    state: r.state as AgentDeployState,
    previous_sha256: (r.previous_sha256 as string | null) ?? null,
    field: parse(r.field),
    gate_result: parse<GateOutcome>(r.gate_result),
    reason: (r.reason as string | null) ?? null,
    updated_at: r.updated_at as string,
  };
}

/** What a new deployment is created with: the record less what the store sets as it runs. */
export type NewDeployment = Omit<
  DeploymentRecord,
  'created_at' | 'updated_at' | 'status' | 'current_stage' | 'reason'
> & {
  agents: { id: string; name: string; stage: number }[];
};

export class DeploymentStore {
  constructor(private readonly store: RunStore) {}

  create(d: NewDeployment): DeploymentRecord {
    const t = now();
    this.store.db
      .transaction(() => {
        this.store.db
          .prepare(
            `INSERT INTO deployments (id, created_at, updated_at, status, model_sha256, model_name, model_bytes, source, selector, canary, waves,
             gate, settings, lab, plan, current_stage) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
          )
          .run(
            d.id,
            t,
            t,
            d.model_sha256,
            d.model_name,
            d.model_bytes,
            JSON.stringify(d.source),
            d.selector,
            d.canary,
            d.waves,
            d.gate,
            JSON.stringify(d.settings),
            d.lab ? JSON.stringify(d.lab) : null,
            JSON.stringify(d.plan),
          );
        const ins = this.store.db.prepare(
          "INSERT INTO deployment_agents (deployment_id, agent_id, agent_name, stage, state, updated_at) VALUES (?, ?, ?, ?, 'pending', ?)",
        );
        for (const a of d.agents) ins.run(d.id, a.id, a.name, a.stage, t);
      })
      .immediate();
    return this.get(d.id)!;
  }

  get(id: string): DeploymentRecord | undefined {
    const row = this.store.db.prepare('SELECT * FROM deployments WHERE id = ?').get(id) as Row | undefined;
    return row ? deploymentFrom(row) : undefined;
  }

  /** Newest first. */
  list(): DeploymentRecord[] {
    return (this.store.db.prepare('SELECT * FROM deployments ORDER BY created_at DESC, id DESC').all() as Row[]).map(
      deploymentFrom,
    );
  }

  running(): DeploymentRecord[] {
    return (
      this.store.db.prepare("SELECT * FROM deployments WHERE status = 'running' ORDER BY created_at").all() as Row[]
    ).map(deploymentFrom);
  }

  agents(id: string): DeploymentAgentRecord[] {
    return (
      this.store.db
        .prepare('SELECT * FROM deployment_agents WHERE deployment_id = ? ORDER BY stage, agent_name')
        .all(id) as Row[]
    ).map(agentFrom);
  }

  agent(id: string, agent_id: string): DeploymentAgentRecord | undefined {
    const row = this.store.db
      .prepare('SELECT * FROM deployment_agents WHERE deployment_id = ? AND agent_id = ?')
      .get(id, agent_id) as Row | undefined;
    return row ? agentFrom(row) : undefined;
  }

  /** Rows of this agent still waiting to converge (it was away when its turn came). */
  waitingFor(agent_id: string): DeploymentAgentRecord[] {
    return (
      this.store.db
        .prepare(
          "SELECT * FROM deployment_agents WHERE agent_id = ? AND state IN ('offline', 'installing') ORDER BY updated_at",
        )
        .all(agent_id) as Row[]
    ).map(agentFrom);
  }

  setStage(id: string, stage: number): void {
    this.store.db
      .prepare('UPDATE deployments SET current_stage = ?, updated_at = ? WHERE id = ?')
      .run(stage, now(), id);
  }

  finish(id: string, status: Exclude<DeploymentStatus, 'running'>, reason: string | null): void {
    this.store.db
      .prepare('UPDATE deployments SET status = ?, reason = ?, updated_at = ? WHERE id = ?')
      .run(status, reason, now(), id);
  }

  updateAgent(
    id: string,
    agent_id: string,
    u: {
      state: AgentDeployState;
      reason?: string | null;
      field?: unknown;
      gate_result?: GateOutcome | null;
      previous_sha256?: string | null;
    },
  ): void {
    const cur = this.agent(id, agent_id);
    if (!cur) throw new Error(`agent ${agent_id} is not part of deployment ${id}`);
    this.store.db
      .prepare(
        'UPDATE deployment_agents SET state = ?, reason = ?, field = ?, gate_result = ?, previous_sha256 = ?, updated_at = ? WHERE deployment_id = ? AND agent_id = ?',
      )
      .run(
        u.state,
        u.reason === undefined ? cur.reason : u.reason,
        u.field === undefined ? (cur.field == null ? null : JSON.stringify(cur.field)) : JSON.stringify(u.field),
        u.gate_result === undefined
          ? cur.gate_result
            ? JSON.stringify(cur.gate_result)
            : null
          : u.gate_result
            ? JSON.stringify(u.gate_result)
            : null,
        u.previous_sha256 === undefined ? cur.previous_sha256 : u.previous_sha256,
        now(),
        id,
        agent_id,
      );
  }
}
