#!/usr/bin/env node
/**
 * Builds the agent tarball a board installs with npm alone: the agent's dist plus @s4op/shared bundled
 * inside (bundleDependencies), so nothing of the host and nothing unpublished is needed, and an
 * npm-shrinkwrap.json holding the versions the repository's lock pins (and its tests ran), so a board does
 * not resolve the ranges afresh to versions nothing tested.
 *
 *   node scripts/agent-pack/pack.mjs [--check]
 *
 * Writes scripts/agent-pack/dist/s4op-agent-<version>.tgz. --check installs the tarball into an empty
 * folder the README's way (`ONNXRUNTIME_NODE_INSTALL=skip npm install ./s4op-agent-<version>.tgz`; an
 * ONNXRUNTIME_NODE_INSTALL already in the environment is passed on instead), runs the installed CLI, and
 * fails when an installed package differs from the shrinkwrap or when onnxruntime-node is missing on a
 * platform it ships a binary for (npm drops the optional package silently when its install script fails).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentShrinkwrap, installLine, nativePlatforms, nativeVerdict, pinToLock } from './lock.mjs';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const out = fileURLToPath(new URL('./dist/', import.meta.url));
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// Only what the tarball holds: the host's build is not needed (and may be mid-change in a checkout).
run(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-b', 'shared', 'agent'], {
  cwd: repo,
  stdio: 'inherit',
});
for (const f of ['agent/dist/cli.js', 'agent/dist/measure/measure-child.js', 'shared/dist/index.js']) {
  if (!existsSync(path.join(repo, f))) throw new Error(`missing ${f}: the build did not produce it`);
}

const agentPkg = JSON.parse(readFileSync(path.join(repo, 'agent/package.json'), 'utf8'));
const sharedPkg = JSON.parse(readFileSync(path.join(repo, 'shared/package.json'), 'utf8'));
const stage = mkdtempSync(path.join(os.tmpdir(), 's4op-agent-pack-'));
try {
  const noMaps = (src) => !src.endsWith('.map');
  cpSync(path.join(repo, 'agent/dist'), path.join(stage, 'dist'), { recursive: true, filter: noMaps });
  cpSync(path.join(repo, 'agent/bin'), path.join(stage, 'bin'), { recursive: true });
  cpSync(path.join(repo, 'scripts/agent-pack/s4op-agent.service'), path.join(stage, 's4op-agent.service'));
  const shared = path.join(stage, 'node_modules/@s4op/shared');
  mkdirSync(shared, { recursive: true });
  cpSync(path.join(repo, 'shared/dist'), path.join(shared, 'dist'), { recursive: true, filter: noMaps });
  writeFileSync(path.join(shared, 'package.json'), JSON.stringify({ ...sharedPkg, files: ['dist'] }, null, 2));

  const lock = JSON.parse(readFileSync(path.join(repo, 'package-lock.json'), 'utf8'));
  const bundled = ['@s4op/shared'];
  const pkg = {
    ...agentPkg,
    files: ['dist', 'bin', 's4op-agent.service', 'README.md', 'npm-shrinkwrap.json'],
    // shared travels inside the tarball; its own dependency (zod) is installed next to the agent. The direct
    // dependencies are pinned to the lock's versions: npm ignores the npm-shrinkwrap.json of a tarball
    // installed from a file (npm/cli#5349; it applies it only to registry packages), so the pins are what
    // holds the runtimes at the tested versions in the README's install.
    dependencies: pinToLock(lock, { ...agentPkg.dependencies, ...sharedPkg.dependencies }, { bundled }),
    optionalDependencies: pinToLock(lock, agentPkg.optionalDependencies ?? {}),
    bundleDependencies: bundled,
    // Node 18 is what Debian 12 (Raspberry Pi OS Bookworm) ships; the emulated-board run uses it.
    engines: { node: '>=18.17' },
  };
  writeFileSync(path.join(stage, 'package.json'), JSON.stringify(pkg, null, 2));
  const shrinkwrap = agentShrinkwrap(lock, pkg, { bundled });
  writeFileSync(path.join(stage, 'npm-shrinkwrap.json'), JSON.stringify(shrinkwrap, null, 2) + '\n');
  const pinned = (name) => shrinkwrap.packages[`node_modules/${name}`]?.version;
  writeFileSync(
    path.join(stage, 'README.md'),
    `# s4op-agent ${pkg.version}\n\nBoard agent of S4oP: dials the host and measures ONNX candidates.\n\n` +
      '```sh\nONNXRUNTIME_NODE_INSTALL=skip npm install -g ./s4op-agent-' +
      pkg.version +
      '.tgz\ns4op-agent info\n' +
      'S4OP_TOKEN=... s4op-agent --host ws://HOST:7480 --name $(hostname) --tags pi4\n```\n\n' +
      "`ONNXRUNTIME_NODE_INSTALL=skip` keeps onnxruntime-node's install script from fetching GPU files (its CPU " +
      'binaries for linux x64/arm64, macOS arm64 and Windows ship in the package); without it, offline, npm drops the ' +
      'native runtime silently. The exact versions tested are pinned by the included npm-shrinkwrap.json.\n\n' +
      'A systemd unit is included: `s4op-agent.service` in the package folder.\n',
  );

  mkdirSync(out, { recursive: true });
  const name = run(npm, ['pack', '--silent', '--pack-destination', out], { cwd: stage }).trim().split('\n').pop();
  const tarball = path.join(out, name);
  const listing = run('tar', ['-tzf', tarball]);
  for (const must of [
    'package/dist/cli.js',
    'package/dist/measure/measure-child.js',
    'package/node_modules/@s4op/shared/dist/index.js',
    'package/s4op-agent.service',
    'package/npm-shrinkwrap.json',
  ]) {
    if (!listing.includes(must)) throw new Error(`tarball lacks ${must}`);
  }
  console.log(`agent tarball: ${tarball}`);
  console.log(
    `pinned: onnxruntime-web ${pinned('onnxruntime-web')}, onnxruntime-node ${pinned('onnxruntime-node')}, ws ${pinned('ws')}, zod ${pinned('zod')} (${Object.keys(shrinkwrap.packages).length - 1} packages)`,
  );

  if (process.argv.includes('--check')) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-agent-install-'));
    try {
      writeFileSync(path.join(dir, 'package.json'), '{"name":"board","private":true}');
      // The README's line. Only the variable decides: the repository's .npmrc setting does not reach this folder.
      const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL ?? 'skip' };
      delete env.npm_config_onnxruntime_node_install;
      console.log(
        `installing: ${env.ONNXRUNTIME_NODE_INSTALL ? `ONNXRUNTIME_NODE_INSTALL=${env.ONNXRUNTIME_NODE_INSTALL} ` : ''}npm install ./${name}`,
      );
      run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
        cwd: dir,
        stdio: ['ignore', 'inherit', 'inherit'],
        env,
      });
      const bin = path.join(dir, 'node_modules/.bin/s4op-agent');
      console.log(`installed: s4op-agent ${run(bin, ['--version']).trim()}`);
      // Every package the shrinkwrap pins is installed at its version, wherever npm placed it.
      const agentDir = path.join(dir, 'node_modules/@s4op/agent');
      const direct = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies)]);
      const drift = [];
      const indirect = [];
      for (const [key, entry] of Object.entries(shrinkwrap.packages)) {
        if (!key || entry.inBundle) continue;
        const at = key.lastIndexOf('node_modules/');
        const name = key.slice(at + 'node_modules/'.length);
        const found = installedVersion(dir, name, path.join(agentDir, key.slice(0, at)));
        if (found === entry.version || (entry.optional && found === undefined)) continue;
        (at === 0 && direct.has(name) ? drift : indirect).push(
          `${name} ${found ?? 'missing'} (tested ${entry.version})`,
        );
      }
      if (drift.length) throw new Error(`the installed agent does not run the tested versions: ${drift.join('; ')}`);
      // Not an error: npm resolves the rest afresh for a file tarball; from a registry the shrinkwrap holds them too.
      console.log(
        `direct dependencies at the tested versions; indirect ones resolved afresh: ${indirect.length ? indirect.join(', ') : 'none'}`,
      );
      const info = JSON.parse(run(bin, ['info', '--json']));
      const rts = info.runtimes.map((r) => `${r.name}=${r.available ? r.version : 'unavailable'}`).join(', ');
      console.log(`installed agent sees: ${info.device.cpu_model}, ${info.device.arch}; runtimes ${rts}`);
      if (!info.runtimes.some((r) => r.available)) throw new Error('the installed agent has no usable runtime');
      if (existsSync(path.join(dir, 'node_modules/@s4op/host'))) throw new Error('a host package got installed');
      const verdict = nativeVerdict(
        `${process.platform}/${process.arch}`,
        info.runtimes,
        nativePlatforms(path.join(repo, 'node_modules/onnxruntime-node')),
        name,
      );
      if (!verdict.ok) throw new Error(verdict.note);
      console.log(`native runtime: ${verdict.note}; board install line: ${installLine(name)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}

/** The version of `name` Node would load from the folder `from` (nearest node_modules upwards, up to `root`). */
function installedVersion(root, name, from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'node_modules', name, 'package.json');
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')).version;
    if (path.relative(root, dir) === '' || dir === path.dirname(dir)) return undefined;
  }
}
