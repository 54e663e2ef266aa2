#!/usr/bin/env node
/**
 * The host runs alone from its packed tarball: `npm pack` of shared, agent and host (the host starts a local
 * agent for `s4op bench` and the pruning loop), installed with plain `npm install` into an empty folder,
 * outside the workspace, so nothing reaches the host through hoisting. Then the installed CLI must:
 *   `s4op --version`, `s4op info` (tfjs and its backend load), `s4op serve` (listens; better-sqlite3 and ws
 *   load), and `s4op bench` measures a tiny ONNX model on a local agent it starts itself.
 * A dependency the host imports without declaring is absent from that folder, and one of these fails.
 *
 *   node scripts/host-pack/check.mjs [--full] [--keep]
 *
 * Run by .ci/run after `npm ci` (which fills npm's cache, so this install is mostly offline). The slow part of
 * a real install is better-sqlite3's native build from source when its prebuilt download is unreachable
 * (about 2.5 min on 2 busy cores; the whole check then takes about 4 min). By default the install runs with
 * --ignore-scripts and better-sqlite3 gets the binary `npm ci` built for the same version and Node (built
 * afresh when they differ): what the check is after, which packages the host's install brings, is the same.
 * --full runs the install scripts as a user's install does. --keep leaves the folder for inspection.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', timeout: 600_000, ...opts });
const step = (what) => console.log(`host-pack: ${what} [${since()}]`);

run(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-b', 'shared', 'host', 'agent'], {
  cwd: repo,
  stdio: 'inherit',
});
const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-host-pack-'));
const children = new Set();
try {
  const packs = path.join(dir, 'tarballs');
  mkdirSync(packs);
  const names = [];
  for (const ws of ['shared', 'agent', 'host']) {
    names.push(
      run(npm, ['pack', '--silent', '--pack-destination', packs], { cwd: path.join(repo, ws) })
        .trim()
        .split('\n')
        .pop(),
    );
  }
  step(`packed ${names.join(', ')}`);

  const app = path.join(dir, 'app');
  mkdirSync(app);
  // Only the host is asked for. shared and agent are not on a registry: `overrides` point the host's own
  // dependencies on them at their tarballs, so the agent is installed only because the host declares it.
  const [sharedTgz, agentTgz, hostTgz] = names.map((n) => `file:../tarballs/${n}`);
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify(
      {
        name: 'host-pack-check',
        private: true,
        dependencies: { '@s4op/host': hostTgz },
        overrides: { '@s4op/shared': sharedTgz, '@s4op/agent': agentTgz },
      },
      null,
      2,
    ),
  );
  // The user's line (README): the native onnxruntime's install script would fetch GPU files otherwise.
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL ?? 'skip' };
  delete env.npm_config_onnxruntime_node_install;
  const full = process.argv.includes('--full');
  // A package the host imports but neither declares nor gets through a dependency is absent here and fails a
  // step below. One it uses undeclared while a dependency brings it (ws through the agent) is hoisted within
  // reach: test/unit/workspace-deps.test.ts catches those from the sources. (npm's linked layout would catch
  // both, but tfjs itself requires packages it does not declare and does not load there.)
  run(
    npm,
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      ...(full ? [] : ['--ignore-scripts']),
    ],
    { cwd: app, env, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  step(`installed${full ? '' : ' (scripts skipped)'}`);
  // From the host's real folder (the linked layout's store), as Node resolves the host's own imports.
  const hostRequire = createRequire(realpathSync(path.join(app, 'node_modules/@s4op/host/package.json')));
  if (!full) {
    const reuse = reuseNativeBuild(
      path.dirname(hostRequire.resolve('better-sqlite3/package.json')),
      'build/Release/better_sqlite3.node',
    );
    if (!reuse)
      run(npm, ['rebuild', 'better-sqlite3', '--loglevel=error'], {
        cwd: app,
        env,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
    step(`better-sqlite3: ${reuse ? "reused the checkout's build" : 'built from source'}`);
  }
  const s4op = path.join(app, 'node_modules/.bin/s4op');
  // Nothing of the checkout may leak in: no S4OP_AGENT_CLI, and the CLI runs from the install folder.
  const cliEnv = { ...process.env, S4OP_AGENT_CLI: '', S4OP_BACKEND: '', NODE_PATH: '' };
  delete cliEnv.S4OP_AGENT_CLI;
  delete cliEnv.S4OP_BACKEND;
  delete cliEnv.NODE_PATH;
  // Bounded: a CLI that fails after starting its embedded server may not exit on its own.
  const cli = (args, opts = {}) =>
    run(s4op, args, { cwd: app, env: cliEnv, timeout: 120_000, killSignal: 'SIGKILL', ...opts }).trim();

  const version = cli(['--version']);
  const expected = JSON.parse(readFileSync(path.join(repo, 'host/package.json'), 'utf8')).version;
  if (version !== expected) throw new Error(`s4op --version printed "${version}", expected ${expected}`);
  step(`s4op --version: ${version}`);
  const info = JSON.parse(cli(['info', '--json']));
  step(`s4op info: tfjs ${info.tfjs}, backend ${info.backend}`);

  // serve: listens (stdout's first line), then stops on SIGTERM.
  const url = await new Promise((resolve, reject) => {
    const child = spawn(s4op, ['serve', '--port', '0', '--token', 'host-pack', '--workspace', path.join(app, 'ws')], {
      cwd: app,
      env: cliEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    let err = '';
    const timer = setTimeout(
      () => reject(new Error(`s4op serve did not listen within 60 s: ${err.slice(-1000)}`)),
      60_000,
    );
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.once('exit', (code, signal) =>
          code === 0 || signal === 'SIGTERM'
            ? resolve(m[1])
            : reject(new Error(`s4op serve exited ${code ?? signal} on SIGTERM: ${err.slice(-1000)}`)),
        );
        child.kill('SIGTERM');
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!/listening on/.test(out))
        reject(new Error(`s4op serve exited ${code} before listening: ${err.slice(-1000)}`));
    });
  });
  step(`s4op serve listened on ${url} and stopped`);

  // bench: a tiny ONNX model (built with the install's own onnx-proto) measured on the local agent it starts.
  const model = path.join(app, 'tiny.onnx');
  writeFileSync(model, tinyModel(hostRequire('onnx-proto').onnx));
  const bench = JSON.parse(
    cli([
      'bench',
      '--model',
      model,
      '--json',
      '--runtime',
      'onnxruntime-web',
      '--threads',
      '1',
      '--warmup-ms',
      '10',
      '--warmup-runs',
      '2',
      '--min-duration-ms',
      '50',
      '--min-samples',
      '5',
      '--max-samples',
      '50',
    ]),
  );
  const figures = bench.measurement?.models?.[0];
  if (!(figures?.latency_ms?.median > 0))
    throw new Error(`s4op bench returned no latency: ${JSON.stringify(bench).slice(0, 500)}`);
  step(
    `s4op bench: median ${figures.latency_ms.median.toFixed(3)} ms on the local agent "${bench.agent?.name}" (${bench.measurement.runtime.name} ${bench.measurement.runtime.version})`,
  );
  console.log(`host-pack: OK in ${since()}`);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (process.argv.includes('--keep')) console.log(`host-pack: kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

/** Copies `file` into the installed package at `dir` from the checkout's copy of the same version; false when there is none. */
function reuseNativeBuild(dir, file) {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const theirs = path.join(repo, 'node_modules', pkg.name);
  const from = path.join(theirs, file);
  if (!existsSync(from) || JSON.parse(readFileSync(path.join(theirs, 'package.json'), 'utf8')).version !== pkg.version)
    return false;
  mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
  copyFileSync(from, path.join(dir, file));
  return true;
}

/** y = relu(x · W + b), x [1, 8]: the smallest model both onnxruntimes run. */
function tinyModel(onnx) {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const vi = (name) => ({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 8 }] } } },
  });
  const w = new Float32Array(64).map((_, i) => ((i * 37) % 17) / 17 - 0.5);
  const b = new Float32Array(8).fill(0.1);
  const graph = {
    name: 'host-pack',
    node: [
      { opType: 'MatMul', input: ['x', 'w'], output: ['m'], name: 'matmul' },
      { opType: 'Add', input: ['m', 'b'], output: ['a'], name: 'add' },
      { opType: 'Relu', input: ['a'], output: ['y'], name: 'relu' },
    ],
    initializer: [
      { name: 'w', dims: [8, 8], dataType: FLOAT, rawData: new Uint8Array(w.buffer) },
      { name: 'b', dims: [1, 8], dataType: FLOAT, rawData: new Uint8Array(b.buffer) },
    ],
    input: [vi('x')],
    output: [vi('y')],
  };
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      producerName: 's4op-host-pack',
      opsetImport: [{ domain: '', version: 13 }],
      graph,
    }),
  ).finish();
}
