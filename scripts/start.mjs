#!/usr/bin/env node
// `npm start`: the main job on this machine, run the way a user would run it, one CLI call per phase:
// train a small S4D on sMNIST-14 → start `s4op serve` (with its live dashboard) and a local `s4op-agent`
// as separate processes → export and measure the base model on the agent → prune with a latency budget
// relative to the base (every candidate timed paired with the base, so the budget holds under drift), the
// measured ratios steering the search (importance by Taylor scores; then the paper's random choice
// with the same settings, for comparison) → write the run's HTML report.
// CI=true runs a reduced configuration (smaller subset and model, two rates, one seed); see the README.
// S4OP_DEMO_DIR moves the output (default .s4op/demo in the repository; emptied at the start).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const HOST = path.join(repo, 'host/dist/cli/main.js');
const AGENT = path.join(repo, 'agent/dist/cli.js');
const ci = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';
const out = path.resolve(process.env.S4OP_DEMO_DIR ?? path.join(repo, '.s4op/demo'));
const ws = path.join(out, 'workspace');
const checkpoint = path.join(out, 's4d-smnist14');
const token = randomBytes(12).toString('hex');
const stamp = Date.now().toString(36);
const runId = `demo-${stamp}-taylor`;
const compareId = `demo-${stamp}-random`;

/** Reduced under CI (about a minute on 2 cores); the full job is a few minutes. */
const C = ci
  ? {
      label: 'CI (reduced)',
      train: [
        '--train',
        '2048',
        '--val',
        '256',
        '--test',
        '256',
        '--d-model',
        '16',
        '--d-state',
        '8',
        '--layers',
        '2',
        '--epochs',
        '2',
      ],
      prune: ['--rates', '30,60', '--finetune-epochs', '1', '--max-steps', '8', '--lr', '0.001'],
      settings: { min_duration_ms: 300, warmup_ms: 100 },
      budgetFraction: 0.9,
    }
  : {
      label: 'full',
      train: ['--d-model', '32', '--d-state', '32', '--layers', '4', '--epochs', '3'],
      prune: [
        '--rates',
        '10,30,50,70,90',
        '--finetune-epochs',
        '1',
        '--max-steps',
        '60',
        '--lr',
        '0.001',
        '--max-drop',
        '10',
      ],
      settings: { min_duration_ms: 1000, warmup_ms: 250 },
      budgetFraction: 0.85,
    };

for (const f of [HOST, AGENT]) {
  if (!existsSync(f)) {
    process.stderr.write(`npm start: ${path.relative(repo, f)} is missing: run npm install (or npm run build) first\n`);
    process.exit(1);
  }
}

const started = Date.now();
const secs = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
const TOTAL = 8;
let phase = 0;
const say = (line) => process.stdout.write(`${line}\n`);
const title = (t) => say(`\n== [${++phase}/${TOTAL}] ${t}  (${secs()})`);
const children = new Set();

function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function fail(message) {
  process.stderr.write(`\nnpm start: ${message}\n`);
  process.exit(1);
}

/** One CLI call to completion; stderr (progress) passes through, stdout is returned. */
function run(cli, args, { show = true } = {}) {
  say(
    `$ ${cli === HOST ? 's4op' : 's4op-agent'} ${args.map((a) => (a === token ? '<token>' : /[\s"{]/.test(a) ? `'${a}'` : a)).join(' ')}`,
  );
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      if (show) process.stdout.write(d);
    });
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : fail(`${args[0]} failed (exit ${code})`)));
  });
}

/** A long-running process (server, agent): output to a log file; resolves with the first line matching `ready`. */
function startLong(cli, args, log, ready, timeoutMs = 60_000) {
  say(
    `$ ${cli === HOST ? 's4op' : 's4op-agent'} ${args.join(' ').replace(token, '<token>')}   (log: ${path.relative(process.cwd(), log) || log})`,
  );
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const file = createWriteStream(log);
  return new Promise((resolve) => {
    let buf = '';
    const timer = setTimeout(
      () => fail(`${path.basename(log)}: not ready within ${timeoutMs / 1000} s (see ${log})`),
      timeoutMs,
    );
    const onData = (d) => {
      file.write(d);
      buf += d;
      const m = ready.exec(buf);
      if (m) {
        clearTimeout(timer);
        buf = '';
        resolve({ child, match: m });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      children.delete(child);
      if (code !== 0 && code !== null) fail(`${path.basename(log)}: the process ended (exit ${code}); see ${log}`);
    });
  });
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
say(`npm start: the whole loop on this machine, ${C.label} configuration${ci ? ' (CI=true)' : ''}; output in ${out}`);

title('host: versions and the tfjs backend');
await run(HOST, ['info']);

title('train: a small S4D on sMNIST-14 (L = 196)');
// Not --json: the training progress (a bar on a terminal, periodic lines otherwise) shows on stderr.
await run(HOST, [
  'train',
  '--model',
  's4d',
  '--dataset',
  'smnist14',
  ...C.train,
  '--batch-size',
  '32',
  '--lr',
  '0.01',
  '--out',
  checkpoint,
]);

title("serve: the host's fleet server and live dashboard");
const serve = await startLong(
  HOST,
  ['serve', '--port', '0', '--token', token, '--workspace', ws],
  path.join(out, 'serve.log'),
  /listening on (ws:\/\/\S+)/,
);
const url = serve.match[1];
const dashboard = `${url.replace(/^ws/, 'http')}/dashboard#token=${token}`;
say(`listening on ${url}; dashboard (live while this runs): ${dashboard}`);

title('agent: a local s4op-agent process dials the host');
await startLong(
  AGENT,
  ['--host', url, '--token', token, '--name', 'local', '--tags', 'local', '--cache-dir', path.join(out, 'agent-cache')],
  path.join(out, 'agent.log'),
  /connected to /,
);
const agents = await (
  await fetch(`${url.replace(/^ws/, 'http')}/v1/agents`, { headers: { authorization: `Bearer ${token}` } })
).json();
const facts = agents.agents.find((a) => a.name === 'local')?.device;
if (!facts) fail('the agent connected but the server does not list it');
say(
  `agent "local" connected: ${facts.board_model ?? facts.cpu_model}, ${facts.cores} cores, ${Math.round(facts.memory_total_mb)} MB, ${facts.os} ${facts.arch}`,
);

title('measure: export the base model and time it on the agent');
const baseOnnx = path.join(out, 'base.onnx');
await run(HOST, ['export', '--checkpoint', checkpoint, '--mode', 'conv', '--out', baseOnnx]);
const bench = JSON.parse(
  await run(
    HOST,
    [
      'bench',
      '--server',
      url,
      '--token',
      token,
      '--agent',
      'local',
      '--model',
      baseOnnx,
      '--settings',
      JSON.stringify(C.settings),
      '--json',
    ],
    { show: false },
  ),
);
const baseP50 = bench.measurement?.models?.[0]?.latency_ms?.median ?? bench.models?.[0]?.latency_ms?.median;
if (typeof baseP50 !== 'number') fail('s4op bench --json gave no median latency');
const budget = `${C.budgetFraction}x`;
say(
  `base model p50 ${baseP50.toFixed(3)} ms on "local" in this job (absolute figures drift between jobs) → latency budget ${budget} the base's, ` +
    `about ${(baseP50 * C.budgetFraction).toFixed(3)} ms at this p50; every candidate is timed interleaved with the base and judged by that ratio`,
);

const pruneArgs = (id, strategy) => [
  'prune',
  '--checkpoint',
  checkpoint,
  '--workspace',
  ws,
  '--run-id',
  id,
  '--server',
  url,
  '--token',
  token,
  '--agent',
  'local',
  ...strategy,
  ...C.prune,
  '--budget',
  budget,
  '--steer',
  '--settings',
  JSON.stringify(C.settings),
];
title(`prune: operators ranked by Taylor importance, steered by the paired latency ratios (budget ${budget} the base)`);
await run(HOST, pruneArgs(runId, ['--strategy', 'importance', '--criteria', 'taylor']));

title("prune again for comparison: the paper's random choice (one seed), same settings");
await run(HOST, pruneArgs(compareId, ['--strategy', 's4op', '--seeds', '1']));

title('report: charts and tables of the run in one HTML file');
const report = path.join(out, 'report.html');
await run(HOST, ['report', runId, '--workspace', ws, '--out', report]);

cleanup();
say(
  `\nnpm start: done in ${secs()}: trained ${checkpoint}, pruned in run ${runId} (compared with ${compareId}; workspace ${ws}), measured on the local agent.`,
);
say(`report: ${report}`);
// The demo's runs live in its own workspace, not in the default .s4op that a plain `s4op runs` reads: print
// the follow-up commands with the workspace spelled out, ready to paste from where `npm start` ran.
const rel = path.relative(process.cwd(), ws);
const wsArg = rel && !rel.startsWith('..') ? rel : ws;
say(`\nnext (the demo's workspace is ${wsArg}; a plain \`npx s4op runs\` reads the default .s4op instead):`);
say(`  npx s4op runs --workspace ${wsArg}`);
say(`  npx s4op runs ${runId} --workspace ${wsArg}`);
say(`  npx s4op report ${compareId} --workspace ${wsArg}`);
say(`  npx s4op serve --workspace ${wsArg} --token T     # then open http://127.0.0.1:7480/dashboard#token=T`);
