/**
 * What the board tarball pins and checks (scripts/agent-pack/lock.mjs), read from the repository's real lock:
 * the shrinkwrap holds the tested versions, and a missing native runtime fails the check where it ships.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  agentShrinkwrap,
  installLine,
  nativePlatforms,
  nativeVerdict,
  pinToLock,
} from '../../scripts/agent-pack/lock.mjs';
import { REPO } from '../helpers/processes.js';

interface Entry {
  version?: string;
  optional?: boolean;
  dev?: boolean;
  inBundle?: boolean;
  dependencies?: Record<string, string>;
}
const lock = JSON.parse(readFileSync(`${REPO}package-lock.json`, 'utf8')) as { packages: Record<string, Entry> };
const agent = JSON.parse(readFileSync(`${REPO}agent/package.json`, 'utf8'));
const locked = (name: string) =>
  (lock.packages[`agent/node_modules/${name}`] ?? lock.packages[`node_modules/${name}`])!.version;

describe('agent tarball lock', () => {
  const pkg = {
    ...agent,
    dependencies: pinToLock(lock, { ...agent.dependencies, zod: '^4.1.0' }, { bundled: ['@s4op/shared'] }),
    optionalDependencies: pinToLock(lock, agent.optionalDependencies),
    bundleDependencies: ['@s4op/shared'],
  };
  const sw = agentShrinkwrap(lock, pkg, { bundled: ['@s4op/shared'] }) as {
    lockfileVersion: number;
    packages: Record<string, Entry>;
  };

  it('pins the direct dependencies to the versions the repository installs', () => {
    expect(pkg.dependencies['onnxruntime-web']).toBe(locked('onnxruntime-web'));
    expect(pkg.optionalDependencies['onnxruntime-node']).toBe(locked('onnxruntime-node'));
    expect(pkg.dependencies['@s4op/shared']).toBe('0.1.0');
    for (const v of [...Object.values(pkg.dependencies), ...Object.values(pkg.optionalDependencies)])
      expect(v).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("the shrinkwrap holds the lock's versions of the runtimes and their dependencies, and nothing of the host", () => {
    expect(sw.lockfileVersion).toBe(3);
    expect(sw.packages['node_modules/onnxruntime-web']!.version).toBe(locked('onnxruntime-web'));
    expect(sw.packages['node_modules/onnxruntime-common']!.version).toBe(locked('onnxruntime-common'));
    expect(sw.packages['node_modules/onnxruntime-node']).toMatchObject({
      version: locked('onnxruntime-node'),
      optional: true,
    });
    expect(sw.packages['node_modules/onnxruntime-web']!.optional).toBeUndefined();
    expect(sw.packages['node_modules/@s4op/shared']).toMatchObject({ inBundle: true });
    const names = Object.keys(sw.packages).filter(Boolean);
    expect(
      names.filter((k) => /node_modules\/(@tensorflow\/|better-sqlite3$|commander$|vitest$|typescript$)/.test(k)),
    ).toEqual([]);
    expect(Object.values(sw.packages).some((e) => e.dev)).toBe(false);
    // Every dependency of every pinned package is itself pinned (the tree is closed).
    for (const [key, entry] of Object.entries(sw.packages)) {
      for (const dep of Object.keys(entry.dependencies ?? {})) {
        const here = key ? `${key}/node_modules/${dep}` : `node_modules/${dep}`;
        expect(sw.packages[here] ?? sw.packages[`node_modules/${dep}`], `${key} → ${dep}`).toBeDefined();
      }
    }
  });

  it('fails where onnxruntime-node ships a binary but did not install, with the fix', () => {
    const platforms = nativePlatforms(`${REPO}node_modules/onnxruntime-node`) as string[];
    expect(platforms).toEqual(expect.arrayContaining(['linux/x64', 'linux/arm64', 'darwin/arm64', 'win32/x64']));
    const missing = [
      { name: 'onnxruntime-node', available: false, reason: "Cannot find package 'onnxruntime-node'" },
      { name: 'onnxruntime-web', available: true, version: '1.30.0' },
    ];
    const bad = nativeVerdict('linux/x64', missing, platforms, 's4op-agent-0.1.0.tgz');
    expect(bad.ok).toBe(false);
    expect(bad.note).toContain('ONNXRUNTIME_NODE_INSTALL=skip npm install ./s4op-agent-0.1.0.tgz');
    expect(nativeVerdict('linux/arm64', missing, platforms, 'x.tgz').ok).toBe(false);
    // Where no binary ships (32-bit Raspberry Pi OS), the web runtime alone is a complete install.
    expect(nativeVerdict('linux/arm', missing, platforms, 'x.tgz').ok).toBe(true);
    expect(
      nativeVerdict('linux/x64', [{ name: 'onnxruntime-node', available: true, version: '1.30.0' }], platforms, 'x.tgz')
        .ok,
    ).toBe(true);
    expect(installLine('s4op-agent-0.1.0.tgz')).toBe(
      'ONNXRUNTIME_NODE_INSTALL=skip npm install ./s4op-agent-0.1.0.tgz',
    );
  });
});
