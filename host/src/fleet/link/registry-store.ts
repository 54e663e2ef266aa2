/**
 * The agent registry in the run store (SQLite): every agent ever seen, with its name, tags, device facts,
 * runtimes, online/offline and last seen, the model it serves (and the one before), and the model the
 * host wants it to serve. Survives a restart of the server, so desired state is never lost.
 */
import type { ActiveModelState, DeviceFacts, RuntimeInfo } from '@s4op/shared';
import type { RunStore } from '../../store/run-store.js';
import { REGISTRY_TTL_MS, type AgentRecord, type AgentRegistry } from './registry.js';

export interface FleetAgentRecord extends AgentRecord {
  active_sha256: string | null;
  active_deployment: string | null;
  previous_sha256: string | null;
  desired_sha256: string | null;
  desired_deployment: string | null;
}

type Row = Record<string, unknown>;

function fromRow(r: Row): FleetAgentRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    tags: JSON.parse(r.tags as string) as string[],
    agent_version: r.agent_version as string,
    runtimes: JSON.parse(r.runtimes as string) as RuntimeInfo[],
    device: JSON.parse(r.device as string) as DeviceFacts,
    address: r.address as string,
    online: r.online === 1,
    connected_at: r.connected_at as string,
    last_seen: r.last_seen as string,
    active_sha256: (r.active_sha256 as string | null) ?? null,
    active_deployment: (r.active_deployment as string | null) ?? null,
    previous_sha256: (r.previous_sha256 as string | null) ?? null,
    desired_sha256: (r.desired_sha256 as string | null) ?? null,
    desired_deployment: (r.desired_deployment as string | null) ?? null,
  };
}

export class StoreAgentRegistry implements AgentRegistry {
  constructor(
    private readonly store: RunStore,
    opts: { readOnly?: boolean; log?: (line: string) => void } = {},
  ) {
    // A server that stopped without saying goodbye left its agents marked online (readers leave that be).
    if (!opts.readOnly) {
      store.db.prepare('UPDATE agents SET online = 0').run();
      // Agent keys live beside the registry (not in a numbered migration: only the fleet reads them).
      store.db.exec(
        'CREATE TABLE IF NOT EXISTS agent_keys (id TEXT PRIMARY KEY, key_sha256 TEXT NOT NULL, issued_at TEXT NOT NULL)',
      );
      const pruned = this.prune(new Date(Date.now() - REGISTRY_TTL_MS));
      if (pruned)
        opts.log?.(`registry: forgot ${pruned} agent(s) offline for more than ${REGISTRY_TTL_MS / 86_400_000} days`);
    }
  }

  findByName(name: string): FleetAgentRecord | undefined {
    // Rows from before names were bound may repeat a name: the one holding a key, else the latest seen, owns it.
    const sql = this.hasKeys()
      ? 'SELECT a.* FROM agents a LEFT JOIN agent_keys k ON k.id = a.id WHERE a.name = ? ORDER BY (k.id IS NOT NULL) DESC, a.last_seen DESC LIMIT 1'
      : 'SELECT * FROM agents WHERE name = ? ORDER BY last_seen DESC LIMIT 1';
    const row = this.store.db.prepare(sql).get(name) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  keyHashOf(id: string): string | undefined {
    if (!this.hasKeys()) return undefined;
    const row = this.store.db.prepare('SELECT key_sha256 FROM agent_keys WHERE id = ?').get(id) as
      { key_sha256: string } | undefined;
    return row?.key_sha256;
  }

  setKeyHash(id: string, hash: string): void {
    this.store.db
      .prepare(
        'INSERT INTO agent_keys (id, key_sha256, issued_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET key_sha256 = excluded.key_sha256, issued_at = excluded.issued_at',
      )
      .run(id, hash, new Date().toISOString());
  }

  remove(id: string): boolean {
    if (this.hasKeys()) this.store.db.prepare('DELETE FROM agent_keys WHERE id = ?').run(id);
    return this.store.db.prepare('DELETE FROM agents WHERE id = ?').run(id).changes > 0;
  }

  prune(before: Date): number {
    const ids = (
      this.store.db.prepare('SELECT id FROM agents WHERE online = 0 AND last_seen < ?').all(before.toISOString()) as {
        id: string;
      }[]
    ).map((r) => r.id);
    for (const id of ids) this.remove(id);
    return ids.length;
  }

  private keysTable: boolean | null = null;
  private hasKeys(): boolean {
    if (this.keysTable === null || !this.keysTable) {
      this.keysTable = !!this.store.db
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agent_keys'")
        .get();
    }
    return this.keysTable;
  }

  upsert(r: AgentRecord): void {
    this.store.db
      .prepare(
        `INSERT INTO agents (id, name, tags, agent_version, runtimes, device, address, online, connected_at, last_seen)
         VALUES (@id, @name, @tags, @agent_version, @runtimes, @device, @address, @online, @connected_at, @last_seen)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, tags = excluded.tags, agent_version = excluded.agent_version,
           runtimes = excluded.runtimes, device = excluded.device, address = excluded.address, online = excluded.online,
           connected_at = excluded.connected_at, last_seen = excluded.last_seen`,
      )
      .run({
        ...r,
        tags: JSON.stringify(r.tags),
        runtimes: JSON.stringify(r.runtimes),
        device: JSON.stringify(r.device),
        online: r.online ? 1 : 0,
      });
  }

  setOffline(id: string, at: Date): void {
    this.store.db.prepare('UPDATE agents SET online = 0, last_seen = ? WHERE id = ?').run(at.toISOString(), id);
  }

  private readonly touched = new Map<string, number>();

  /** Any message from the agent counts as a sign of life (written at most every 30 s per agent, not per message). */
  touch(id: string, at = new Date()): void {
    const last = this.touched.get(id) ?? 0;
    if (at.getTime() - last < 30_000) return;
    this.touched.set(id, at.getTime());
    this.store.db.prepare('UPDATE agents SET last_seen = ? WHERE id = ?').run(at.toISOString(), id);
  }

  get(id: string): FleetAgentRecord | undefined {
    const row = this.store.db.prepare('SELECT * FROM agents WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(): FleetAgentRecord[] {
    return (this.store.db.prepare('SELECT * FROM agents ORDER BY name, id').all() as Row[]).map(fromRow);
  }

  /** What the agent reports it serves (hello or model_state). */
  setActual(id: string, state: ActiveModelState): void {
    this.store.db
      .prepare('UPDATE agents SET active_sha256 = ?, active_deployment = ?, previous_sha256 = ? WHERE id = ?')
      .run(state.active?.sha256 ?? null, state.active?.deployment_id ?? null, state.previous?.sha256 ?? null, id);
  }

  /** What the host wants the agent to serve (set when a deployment activates the model there). */
  setDesired(id: string, sha256: string | null, deployment: string | null): void {
    this.store.db
      .prepare('UPDATE agents SET desired_sha256 = ?, desired_deployment = ? WHERE id = ?')
      .run(sha256, deployment, id);
  }
}
