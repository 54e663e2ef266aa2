/**
 * The registry in the run store (real SQLite file): who owns a name when rows from before names were bound
 * repeat it, key hashes kept per agent id, forgetting an agent, and pruning agents offline for too long.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreAgentRegistry } from '../../host/dist/fleet/link/registry-store.js';
import { RunStore } from '../../host/dist/store/run-store.js';
import { tmpDir } from '../helpers/fleet.js';

let store: RunStore | null = null;
afterEach(() => store?.close());

const record = (id: string, name: string, lastSeen: string) => ({
  id,
  name,
  tags: ['t'],
  agent_version: '0',
  runtimes: [],
  device: {
    hostname: 'h',
    cpu_model: 'c',
    cores: 1,
    cpu_max_mhz: null,
    cpu_current_mhz: null,
    memory_total_mb: 1,
    os: 'o',
    arch: 'a',
    temperature_c: null,
    board_model: null,
  },
  address: '127.0.0.1:1',
  online: false,
  connected_at: lastSeen,
  last_seen: lastSeen,
});

describe('StoreAgentRegistry identity', () => {
  it('a name repeated by old rows belongs to the row with a key, else to the latest seen', () => {
    store = RunStore.openWorkspace(path.join(tmpDir('s4op-reg-'), 'ws'));
    const reg = new StoreAgentRegistry(store);
    reg.upsert(record('old-1', 'pi', '2026-12-01T00:00:00.000Z'));
    reg.upsert(record('old-2', 'pi', '2026-12-05T00:00:00.000Z'));
    expect(reg.findByName('pi')?.id).toBe('old-2');
    reg.setKeyHash('old-1', 'a'.repeat(64));
    expect(reg.findByName('pi')?.id).toBe('old-1');
    expect(reg.keyHashOf('old-1')).toBe('a'.repeat(64));
    expect(reg.keyHashOf('old-2')).toBeUndefined();
    expect(reg.remove('old-1')).toBe(true);
    expect(reg.keyHashOf('old-1')).toBeUndefined();
    expect(reg.findByName('pi')?.id).toBe('old-2');
  });

  it('prunes agents offline since before the cut-off, keys with them; online ones stay', () => {
    store = RunStore.openWorkspace(path.join(tmpDir('s4op-reg-'), 'ws'));
    const reg = new StoreAgentRegistry(store);
    reg.upsert(record('gone', 'gone', '2026-01-01T00:00:00.000Z'));
    reg.setKeyHash('gone', 'b'.repeat(64));
    reg.upsert({ ...record('live', 'live', '2026-01-01T00:00:00.000Z'), online: true });
    reg.upsert(record('recent', 'recent', '2026-12-06T00:00:00.000Z'));
    expect(reg.prune(new Date('2026-06-01T00:00:00.000Z'))).toBe(1);
    expect(
      reg
        .list()
        .map((r) => r.id)
        .sort(),
    ).toEqual(['live', 'recent']);
    expect(reg.keyHashOf('gone')).toBeUndefined();
  });
});
