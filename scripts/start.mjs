#!/usr/bin/env node
// `npm start`: the main job on this machine. Until the whole loop (train → prune → measure → report)
// lands, it runs the parts that exist and says what it did.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const step = (title, cli, args) => {
  process.stdout.write(`\n== ${title}\n`);
  const r = spawnSync(process.execPath, [`${repo}${cli}`, ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`npm start: "${title}" failed (exit ${r.status})\n`);
    process.exit(r.status ?? 1);
  }
};

step('host: tfjs backend and versions', 'host/dist/cli.js', ['info']);
step('agent: device facts of this machine', 'agent/dist/cli.js', ['info']);
process.stdout.write('\nnpm start: checked the host backend and the agent device facts.\n');
