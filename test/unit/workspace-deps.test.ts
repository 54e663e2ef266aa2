import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/processes.js';

interface LockPackage {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  link?: boolean;
  resolved?: string;
}

const lock = JSON.parse(readFileSync(`${REPO}package-lock.json`, 'utf8')) as { packages: Record<string, LockPackage> };

/** Resolves `name` the way Node does from the package at `from` (nearest node_modules upwards). */
function resolve(from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return undefined;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i >= 0 ? dir.slice(0, i) : '';
  }
}

/** Every installed package reachable from a workspace through its dependencies (what installing it pulls). */
function closure(workspace: string): Set<string> {
  const seen = new Set<string>();
  const queue = [workspace];
  while (queue.length) {
    let key = queue.pop()!;
    const entry = lock.packages[key];
    if (!entry) continue;
    if (entry.link && entry.resolved) key = entry.resolved;
    const pkg = lock.packages[key]!;
    const deps = { ...pkg.dependencies, ...pkg.optionalDependencies };
    for (const name of Object.keys(deps)) {
      const at = resolve(key, name);
      if (!at || seen.has(at)) continue;
      seen.add(at);
      queue.push(at);
    }
  }
  return new Set([...seen].map((k) => k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length)));
}

describe('workspace dependencies', () => {
  it('the agent installs without tfjs or any host package', () => {
    const agent = closure('agent');
    expect(agent.size).toBeGreaterThan(3);
    expect([...agent].filter((n) => n.startsWith('@tensorflow/'))).toEqual([]);
    expect(agent.has('@s4op/host')).toBe(false);
    expect(agent.has('commander')).toBe(false);
    expect(agent.has('ws')).toBe(true);
    expect(agent.has('onnxruntime-web')).toBe(true);
  });

  it('the agent declares only shared, ws, systeminformation and the onnxruntimes', async () => {
    const pkg = JSON.parse(readFileSync(`${REPO}agent/package.json`, 'utf8'));
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@s4op/shared', 'onnxruntime-web', 'systeminformation', 'ws']);
    expect(Object.keys(pkg.optionalDependencies ?? {})).toEqual(['onnxruntime-node']);
  });

  it('the host reaches tfjs (so the closure walk can see it)', () => {
    expect(closure('host').has('@tensorflow/tfjs')).toBe(true);
  });
});
