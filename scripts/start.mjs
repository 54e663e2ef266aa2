#!/usr/bin/env node
// `npm start`: the main job on this machine. Until the whole loop (train → prune → measure on a local
// agent → report) lands, it runs the parts that exist — each as the real CLI a user would call — and says
// what it did.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const out = `${repo}.s4op/demo`;
const step = (title, cli, args) => {
  process.stdout.write(`\n== ${title}\n$ ${cli.split('/')[0] === 'host' ? 's4op' : 's4op-agent'} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [`${repo}${cli}`, ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`npm start: "${title}" failed (exit ${r.status})\n`);
    process.exit(r.status ?? 1);
  }
};

step('host: versions and the tfjs backend', 'host/dist/cli.js', ['info']);
step('agent: device facts of this machine', 'agent/dist/cli.js', ['info']);
step('data: sMNIST at 14×14 (L = 196) from the mnist package', 'host/dist/cli.js', ['data', 'info', 'smnist14']);
step('train: a small S4D on sMNIST-14 (a short run: 60 steps)', 'host/dist/cli.js', [
  'train', '--model', 's4d', '--dataset', 'smnist14', '--d-model', '32', '--d-state', '16', '--layers', '2',
  '--epochs', '1', '--max-steps', '60', '--batch-size', '32', '--lr', '0.01', '--out', `${out}/s4d-smnist14`,
]);
process.stdout.write(
  `\nnpm start: printed the host backend and the agent's device facts, described sMNIST-14, and trained a small S4D for 60 steps (checkpoint in ${out}/s4d-smnist14).\n`,
);
