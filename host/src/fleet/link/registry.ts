/**
 * What the host remembers about agents. In memory for now; the run store (SQLite) implements the same
 * small interface later, so the server does not care where the records live.
 */
import type { DeviceFacts, RuntimeInfo } from '@s4op/shared';

export interface AgentRecord {
  id: string;
  name: string;
  tags: string[];
  agent_version: string;
  runtimes: RuntimeInfo[];
  device: DeviceFacts;
  address: string;
  online: boolean;
  connected_at: string;
  last_seen: string;
}

export interface AgentRegistry {
  upsert(record: AgentRecord): void;
  setOffline(id: string, at: Date): void;
  get(id: string): AgentRecord | undefined;
  list(): AgentRecord[];
  /** The registered agent holding this name, if any. */
  findByName(name: string): AgentRecord | undefined;
  /** sha256 of the key issued to this agent id, if one was. */
  keyHashOf(id: string): string | undefined;
  setKeyHash(id: string, hash: string): void;
  /** Forgets an agent (its row, name and key): a re-flashed board can then register afresh. */
  remove(id: string): boolean;
  /** Removes agents offline since before `before`; returns how many went. */
  prune(before: Date): number;
}

/** Offline agents are forgotten after this long (their names become free again). */
export const REGISTRY_TTL_MS = 30 * 24 * 3600 * 1000;

export class MemoryAgentRegistry implements AgentRegistry {
  private readonly records = new Map<string, AgentRecord>();
  private readonly names = new Map<string, string>();
  private readonly keys = new Map<string, string>();

  upsert(record: AgentRecord): void {
    const old = this.records.get(record.id);
    if (old && old.name !== record.name) this.names.delete(old.name);
    this.records.set(record.id, { ...record });
    this.names.set(record.name, record.id);
  }

  findByName(name: string): AgentRecord | undefined {
    const id = this.names.get(name);
    return id === undefined ? undefined : this.get(id);
  }

  keyHashOf(id: string): string | undefined {
    return this.keys.get(id);
  }

  setKeyHash(id: string, hash: string): void {
    this.keys.set(id, hash);
  }

  remove(id: string): boolean {
    const r = this.records.get(id);
    this.keys.delete(id);
    if (!r) return false;
    this.records.delete(id);
    if (this.names.get(r.name) === id) this.names.delete(r.name);
    return true;
  }

  prune(before: Date): number {
    let n = 0;
    for (const r of [...this.records.values()])
      if (!r.online && Date.parse(r.last_seen) < before.getTime() && this.remove(r.id)) n++;
    return n;
  }

  setOffline(id: string, at: Date): void {
    const r = this.records.get(id);
    if (r) Object.assign(r, { online: false, last_seen: at.toISOString() });
  }

  get(id: string): AgentRecord | undefined {
    const r = this.records.get(id);
    return r && { ...r };
  }

  list(): AgentRecord[] {
    return [...this.records.values()].map((r) => ({ ...r }));
  }
}
