/**
 * An embedded host server and one real agent process (agent/dist, `npm run build` first) on loopback, named
 * `bench`, with its own temporary model cache: what the agent benchmarks measure through.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFleet, type Fleet } from '@s4op/host';

const AGENT_CLI = fileURLToPath(new URL('../../agent/dist/cli.js', import.meta.url));

export async function startBenchAgent(): Promise<{ fleet: Fleet; stop: () => Promise<void> }> {
  const token = 'bench-token';
  const fleet = await startFleet({ port: 0, token, log: () => undefined });
  const cache = mkdtempSync(path.join(os.tmpdir(), 's4op-bench-agent-'));
  const agent = spawn(
    process.execPath,
    [AGENT_CLI, '--host', fleet.server.url, '--name', 'bench', '--cache-dir', cache],
    {
      env: { ...process.env, S4OP_TOKEN: token },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return {
    fleet,
    async stop() {
      agent.kill('SIGTERM');
      await fleet.stop();
      rmSync(cache, { recursive: true, force: true });
    },
  };
}
