#!/usr/bin/env node
/**
 * Builds the agent tarball a board installs with npm alone: the agent's dist plus @s4op/shared bundled
 * inside (bundleDependencies), so nothing of the host and nothing unpublished is needed.
 *
 *   node scripts/agent-pack/pack.mjs [--check]
 *
 * Writes scripts/agent-pack/dist/s4op-agent-<version>.tgz. --check installs the tarball into an empty
 * folder with `npm install` (optional onnxruntime-node left out to save time) and runs the installed CLI.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const out = fileURLToPath(new URL('./dist/', import.meta.url));
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// Only what the tarball holds: the host's build is not needed (and may be mid-change in a checkout).
run(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-b', 'shared', 'agent'], { cwd: repo, stdio: 'inherit' });
for (const f of ['agent/dist/cli.js', 'agent/dist/measure-child.js', 'shared/dist/index.js']) {
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

  const pkg = {
    ...agentPkg,
    files: ['dist', 'bin', 's4op-agent.service', 'README.md'],
    // shared travels inside the tarball; its own dependency (zod) is installed next to the agent.
    dependencies: { ...agentPkg.dependencies, ...sharedPkg.dependencies },
    bundleDependencies: ['@s4op/shared'],
    // Node 18 is what Debian 12 (Raspberry Pi OS Bookworm) ships; the emulated-board run uses it.
    engines: { node: '>=18.17' },
  };
  writeFileSync(path.join(stage, 'package.json'), JSON.stringify(pkg, null, 2));
  writeFileSync(
    path.join(stage, 'README.md'),
    `# s4op-agent ${pkg.version}\n\nBoard agent of S4oP: dials the host and measures ONNX candidates.\n\n` +
      '```sh\nnpm install -g ./s4op-agent-' + pkg.version + '.tgz\ns4op-agent info\n' +
      'S4OP_TOKEN=... s4op-agent --host ws://HOST:7480 --name $(hostname) --tags pi4\n```\n\n' +
      'A systemd unit is included: `s4op-agent.service` in the package folder.\n',
  );

  mkdirSync(out, { recursive: true });
  const name = run(npm, ['pack', '--silent', '--pack-destination', out], { cwd: stage }).trim().split('\n').pop();
  const tarball = path.join(out, name);
  const listing = run('tar', ['-tzf', tarball]);
  for (const must of ['package/dist/cli.js', 'package/dist/measure-child.js', 'package/node_modules/@s4op/shared/dist/index.js', 'package/s4op-agent.service']) {
    if (!listing.includes(must)) throw new Error(`tarball lacks ${must}`);
  }
  console.log(`agent tarball: ${tarball}`);

  if (process.argv.includes('--check')) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-agent-install-'));
    try {
      writeFileSync(path.join(dir, 'package.json'), '{"name":"board","private":true}');
      run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=optional', tarball], { cwd: dir, stdio: 'inherit' });
      const bin = path.join(dir, 'node_modules/.bin/s4op-agent');
      console.log(`installed: s4op-agent ${run(bin, ['--version']).trim()}`);
      const info = JSON.parse(run(bin, ['info', '--json']));
      const rts = info.runtimes.map((r) => `${r.name}=${r.available ? r.version : 'unavailable'}`).join(', ');
      console.log(`installed agent sees: ${info.device.cpu_model}, ${info.device.arch}; runtimes ${rts}`);
      if (!info.runtimes.some((r) => r.available)) throw new Error('the installed agent has no usable runtime');
      if (existsSync(path.join(dir, 'node_modules/@s4op/host'))) throw new Error('a host package got installed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}
