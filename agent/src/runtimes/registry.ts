/**
 * Runtimes by priority: native first, WASM as the fallback. The one list of what this agent can run: a new
 * runtime is a file of this folder implementing Runtime and one entry here (shared's KNOWN_RUNTIMES documents
 * the names; the wire accepts any, see protocol.ts).
 */
import type { RuntimeInfo, RuntimeName } from '@s4op/shared';
import { nodeRuntime } from './node.js';
import type { Runtime } from './runtime.js';
import { webRuntime } from './web.js';

export const RUNTIMES: readonly Runtime[] = [
  nodeRuntime, // native, fastest where its binary ships
  webRuntime, // wasm: runs anywhere Node does
];

/** The runtimes' names, by priority (what the agent probes, and what its options accept). */
export function runtimeNames(): RuntimeName[] {
  return RUNTIMES.map((r) => r.name);
}

export function runtimeByName(name: RuntimeName): Runtime {
  const r = RUNTIMES.find((x) => x.name === name);
  if (!r) throw new Error(`unknown runtime "${name}"`);
  return r;
}

/**
 * Picks the runtime a job asked for, or for `auto` the first available one by priority. `probed` is the
 * availability found at start-up (in child processes, since a native runtime can crash its process).
 */
export function pickRuntime(
  want: 'auto' | RuntimeName,
  probed: readonly RuntimeInfo[],
): { ok: true; name: RuntimeName } | { ok: false; reason: string } {
  const info = (name: RuntimeName) => probed.find((p) => p.name === name);
  if (want !== 'auto') {
    const p = info(want);
    if (p?.available) return { ok: true, name: want };
    return { ok: false, reason: `runtime ${want} is not available on this agent${p?.reason ? `: ${p.reason}` : ''}` };
  }
  for (const r of RUNTIMES) if (info(r.name)?.available) return { ok: true, name: r.name };
  return {
    ok: false,
    reason: `no runtime is available on this agent (${probed.map((p) => `${p.name}: ${p.reason ?? 'unavailable'}`).join('; ')})`,
  };
}
