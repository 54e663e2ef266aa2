import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bareImports, checkWorkspace, undeclaredImports } from '../helpers/bare-imports.js';
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
    expect(Object.keys(pkg.dependencies).sort()).toEqual([
      '@s4op/shared',
      'onnxruntime-web',
      'systeminformation',
      'ws',
    ]);
    expect(Object.keys(pkg.optionalDependencies ?? {})).toEqual(['onnxruntime-node']);
  });

  it('the host reaches tfjs (so the closure walk can see it)', () => {
    expect(closure('host').has('@tensorflow/tfjs')).toBe(true);
  });

  it('the host installs ws and the agent it starts locally', () => {
    const host = closure('host');
    expect(host.has('ws')).toBe(true);
    expect(host.has('@s4op/agent')).toBe(true);
  });
});

/**
 * Packages a workspace may name without declaring, each with why. Keep this short: anything here is missing
 * from an install of the workspace's tarball.
 */
const UNDECLARED_OK: Record<string, Record<string, string>> = {
  host: {
    // train/replicas.ts resolves tsx/cjs only when it runs from TypeScript sources (vitest, tsx), never from
    // dist; tsx is a root devDependency.
    tsx: 'development only',
  },
  shared: {},
  agent: {},
};

describe('each workspace declares what it imports', () => {
  for (const ws of ['shared', 'host', 'agent'] as const) {
    it(`${ws}/src names only packages ${ws}/package.json declares`, () => {
      const missing = checkWorkspace(`${REPO}${ws}`, UNDECLARED_OK[ws]);
      expect(
        missing.map((m) => `${m.file}:${m.line} imports ${m.specifier}, undeclared in ${ws}/package.json`),
      ).toEqual([]);
    });

    it(`the lock records ${ws}'s declared dependencies (package-lock.json updated with package.json)`, () => {
      const pkg = JSON.parse(readFileSync(`${REPO}${ws}/package.json`, 'utf8'));
      const entry = lock.packages[ws]!;
      expect(entry.dependencies ?? {}).toEqual(pkg.dependencies ?? {});
      expect(entry.optionalDependencies ?? {}).toEqual(pkg.optionalDependencies ?? {});
    });
  }

  it('excuses only root devDependencies', () => {
    const root = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8'));
    for (const names of Object.values(UNDECLARED_OK))
      for (const name of Object.keys(names)) expect(root.devDependencies).toHaveProperty([name]);
  });
});

describe('the import reader', () => {
  const fixture = [
    "import a from 'alpha';",
    "import { b } from '@scope/beta/deep/path.js';",
    "import type { C } from 'gamma';",
    "export * from 'delta';",
    "import 'epsilon/register';",
    "import fs from 'node:fs';",
    "import path from 'path';",
    "import local from './local.js';",
    "const later = await import('zeta');",
    "const id = 'eta';",
    'await import(id);',
    'const req = createRequire(import.meta.url);',
    "createRequire(import.meta.url)('theta');",
    "createRequire(import.meta.url).resolve('iota/package.json');",
    "require('kappa');",
    "require.resolve('lambda');",
    "type T = import('mu').T;",
    "// import('in-a-comment') and require('in-a-comment') do not count",
    'const s = "import x from \'in-a-string\'";',
    "path.resolve('not-a-module');",
  ].join('\n');

  it('finds static, type, dynamic and require-style imports, and nothing in comments or strings', () => {
    expect(bareImports(fixture).map((i) => i.pkg)).toEqual([
      'alpha',
      '@scope/beta',
      'gamma',
      'delta',
      'epsilon',
      'zeta',
      'eta',
      'theta',
      'iota',
      'kappa',
      'lambda',
      'mu',
    ]);
  });

  it('reports what the package does not declare, with file and line', () => {
    const pkg = {
      name: 'fixture',
      dependencies: {
        alpha: '1',
        '@scope/beta': '1',
        gamma: '1',
        delta: '1',
        epsilon: '1',
        zeta: '1',
        theta: '1',
        iota: '1',
        kappa: '1',
        lambda: '1',
      },
      optionalDependencies: { eta: '1' },
    };
    const missing = undeclaredImports([{ file: 'src/x.ts', source: fixture }], pkg);
    expect(missing.map((m) => `${m.file}:${m.line} ${m.specifier}`)).toEqual(['src/x.ts:17 mu']);
    expect(undeclaredImports([{ file: 'src/x.ts', source: fixture }], pkg, { mu: 'types only' })).toEqual([]);
    expect(
      undeclaredImports([{ file: 'src/x.ts', source: "import { WebSocket } from 'ws';" }], {
        name: 'host',
        dependencies: {},
      }),
    ).toHaveLength(1);
  });
});
