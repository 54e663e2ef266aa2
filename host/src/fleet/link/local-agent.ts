/**
 * Starts an agent process on this machine (loopback), for `s4op bench` without a running server and for
 * the pruning loop's local measurements. The agent is a separate package; it is found through the
 * workspace link (node_modules/@s4op/agent) or next to the host in a checkout, or S4OP_AGENT_CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function localAgentCli(): string {
  if (process.env.S4OP_AGENT_CLI) return process.env.S4OP_AGENT_CLI;
  try {
    const pkg = createRequire(import.meta.url).resolve('@s4op/agent/package.json');
    const cli = path.join(path.dirname(pkg), 'dist', 'cli.js');
    if (existsSync(cli)) return cli;
  } catch {
    // not linked
  }
  const sibling = fileURLToPath(new URL('../../../../agent/dist/cli.js', import.meta.url));
  if (existsSync(sibling)) return sibling;
  throw new Error('cannot find the s4op-agent CLI: build the agent workspace or set S4OP_AGENT_CLI');
}

export interface LocalAgentOptions {
  url: string;
  token: string;
  name: string;
  tags?: string[];
  cacheDir: string;
  extraArgs?: string[];
  /** Where the agent's log lines go (default: dropped). */
  onLog?: (line: string) => void;
}

export function spawnLocalAgent(opts: LocalAgentOptions): ChildProcess {
  const args = [
    localAgentCli(),
    '--host',
    opts.url,
    '--name',
    opts.name,
    '--cache-dir',
    opts.cacheDir,
    ...(opts.tags?.length ? ['--tags', opts.tags.join(',')] : []),
    ...(opts.extraArgs ?? []),
  ];
  // The token travels in the environment, not argv, so `ps` does not show it.
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, S4OP_TOKEN: opts.token },
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    for (const line of d.split('\n')) if (line.trim()) opts.onLog?.(line);
  });
  return child;
}
