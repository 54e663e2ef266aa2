/**
 * What the agent tarball pins and checks, derived from the repository's package-lock.json: the
 * npm-shrinkwrap.json it ships (the versions the repository tests, not whatever its ranges resolve to on the
 * day a board installs it) and the platforms where onnxruntime-node ships a native CPU binary.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** Resolves `name` from the lock key `from` the way Node does (nearest node_modules upwards). */
function resolveIn(packages, from, name) {
  let dir = from;
  for (;;) {
    const key = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (packages[key]) return key;
    if (!dir) return undefined;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i >= 0 ? dir.slice(0, i) : '';
  }
}

/** A lock key of the repository → the same package's key inside the agent's install (its own node_modules). */
function placeInAgent(key, workspace) {
  if (key.startsWith(`${workspace}/node_modules/`)) return key.slice(workspace.length + 1);
  if (key.startsWith('node_modules/')) return key;
  throw new Error(`cannot place ${key} in the agent's shrinkwrap`);
}

/** `deps` with each range replaced by the exact version the lock installs for `workspace` (bundled ones kept). */
export function pinToLock(lock, deps, { workspace = 'agent', bundled = [] } = {}) {
  return Object.fromEntries(
    Object.entries(deps).map(([name, range]) => {
      if (bundled.includes(name)) return [name, range];
      const at = resolveIn(lock.packages, workspace, name);
      if (!at) throw new Error(`the lock has no ${name} for ${workspace}: run npm install`);
      return [name, lock.packages[at].version];
    }),
  );
}

const DROP = new Set(['dev', 'devOptional', 'optional', 'peer', 'inBundle', 'extraneous']);

/**
 * The npm-shrinkwrap.json for the packed agent `pkg` (the tarball's package.json): every package it installs,
 * at the version, integrity and place the repository's lock has, reached from `workspace` through
 * `pkg`'s dependencies; `bundled` names travel inside the tarball and are marked so.
 */
export function agentShrinkwrap(lock, pkg, { workspace = 'agent', bundled = [] } = {}) {
  const packages = lock.packages;
  const out = {};
  const required = new Set();
  const source = new Map(); // shrinkwrap key → lock key, to catch two packages claiming one place
  // Breadth-first, required edges before optional ones, so "optional" means reachable only optionally.
  const walk = (optionalPass) => {
    const queue = [[workspace, { ...pkg.dependencies, ...(optionalPass ? pkg.optionalDependencies : {}) }]];
    const seen = new Set();
    while (queue.length) {
      const [from, deps] = queue.shift();
      for (const name of Object.keys(deps ?? {})) {
        if (bundled.includes(name) && from === workspace) continue;
        let at = resolveIn(packages, from, name);
        if (!at) {
          if (optionalPass && (pkg.optionalDependencies?.[name] || packages[from]?.optionalDependencies?.[name]))
            continue;
          throw new Error(`the lock has no ${name} reachable from ${from}: run npm install`);
        }
        if (packages[at].link) at = packages[at].resolved;
        if (seen.has(at)) continue;
        seen.add(at);
        if (!optionalPass) required.add(at);
        const entry = packages[at];
        const deps2 = { ...entry.dependencies, ...(optionalPass ? entry.optionalDependencies : {}) };
        queue.push([at, deps2]);
        const place = placeInAgent(at, workspace);
        if (source.has(place) && source.get(place) !== at)
          throw new Error(`${source.get(place)} and ${at} both belong at ${place}`);
        source.set(place, at);
        const copy = Object.fromEntries(Object.entries(entry).filter(([k]) => !DROP.has(k)));
        if (!required.has(at)) copy.optional = true;
        out[place] = copy;
      }
    }
  };
  walk(false);
  walk(true);
  for (const name of bundled) {
    out[`node_modules/${name}`] = { version: pkg.version, inBundle: true, license: pkg.license };
  }
  const root = {
    name: pkg.name,
    version: pkg.version,
    license: pkg.license,
    bundleDependencies: pkg.bundleDependencies,
    dependencies: pkg.dependencies,
    optionalDependencies: pkg.optionalDependencies,
    bin: pkg.bin,
    engines: pkg.engines,
  };
  const sorted = Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((k) => [k, out[k]]),
  );
  return {
    name: pkg.name,
    version: pkg.version,
    lockfileVersion: 3,
    requires: true,
    packages: { '': root, ...sorted },
  };
}

/**
 * `os/arch` pairs for which the installed onnxruntime-node ships a CPU binary (bin/napi-v*\/<os>/<arch>).
 * Read from the repository's copy (the version the shrinkwrap pins); the fallback is the 1.30 list.
 */
export function nativePlatforms(ortNodeDir) {
  const found = new Set();
  const bin = path.join(ortNodeDir, 'bin');
  if (existsSync(bin)) {
    for (const napi of readdirSync(bin)) {
      for (const os of readdirSync(path.join(bin, napi))) {
        for (const arch of readdirSync(path.join(bin, napi, os))) found.add(`${os}/${arch}`);
      }
    }
  }
  return found.size ? [...found].sort() : ['darwin/arm64', 'linux/arm64', 'linux/x64', 'win32/arm64', 'win32/x64'];
}

/** The install line a board on `platform` should use (the native runtime's postinstall fetches GPU files otherwise). */
export function installLine(tarball) {
  return `ONNXRUNTIME_NODE_INSTALL=skip npm install ./${tarball}`;
}

/**
 * Whether an installed agent on `platform` (`os/arch`) is complete: where onnxruntime-node ships a binary it
 * must be usable, since npm drops the optional package silently when its install script fails.
 */
export function nativeVerdict(platform, runtimes, platforms, tarball) {
  const native = runtimes.find((r) => r.name === 'onnxruntime-node');
  if (!platforms.includes(platform))
    return { ok: true, note: `no native onnxruntime build for ${platform}; onnxruntime-web only` };
  if (native?.available) return { ok: true, note: `onnxruntime-node ${native.version}` };
  return {
    ok: false,
    note:
      `onnxruntime-node is missing on ${platform}, which it supports (${native?.reason ?? 'not installed'}): npm dropped the optional ` +
      `package because its install script failed (it fetches GPU files). Reinstall with: ${installLine(tarball)}`,
  };
}
