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
}

export class MemoryAgentRegistry implements AgentRegistry {
  private readonly records = new Map<string, AgentRecord>();

  upsert(record: AgentRecord): void {
    this.records.set(record.id, { ...record });
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
