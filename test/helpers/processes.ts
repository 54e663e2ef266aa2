import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const HOST_CLI = `${REPO}host/dist/cli/main.js`;
export const AGENT_CLI = `${REPO}agent/dist/cli.js`;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const live = new Set<ChildProcess>();

/** Runs a built CLI to completion as a real process; killed after `timeoutMs`. */
export function runCli(
  cli: string,
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Kills every process started here that is still running; call from afterEach/afterAll. */
export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

process.on('exit', killAll);

/** A long-running CLI process (server or agent) whose output lines can be awaited. */
export interface LiveProcess {
  child: ChildProcess;
  /** stdout and stderr lines so far, in arrival order. */
  lines: string[];
  /** Resolves with the first line (past or future) matching `pattern`; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export function startCli(cli: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): LiveProcess {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  const onData = (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (!line) continue;
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, sig) => {
      live.delete(child);
      resolve(code ?? sig ?? -1);
    }),
  );
  return {
    child,
    lines,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pattern, resolve: (l: string) => (clearTimeout(timer), resolve(l)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(
            new Error(
              `no line matching ${pattern} within ${timeoutMs} ms; output so far:\n${lines.slice(-30).join('\n')}`,
            ),
          );
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const r = await exited;
      clearTimeout(killer);
      return r;
    },
  };
}

/** Starts `s4op serve` on a free loopback port and resolves once it listens. */
export async function startServe(
  args: string[] = [],
  token = 'test-token',
): Promise<LiveProcess & { url: string; token: string }> {
  // A workspace of its own unless told: the registry binds names to agents, so state must not leak between tests.
  const workspace = args.includes('--workspace')
    ? []
    : ['--workspace', mkdtempSync(path.join(os.tmpdir(), 's4op-serve-ws-'))];
  const p = startCli(HOST_CLI, ['serve', '--port', '0', '--token', token, ...workspace, ...args]);
  const line = await p.waitFor(/^listening on /);
  return Object.assign(p, { url: line.replace('listening on ', '').trim(), token });
}

/**
 * Trains a tiny S4D on a small ListOps (10–40 tokens, depth 3, 4 arguments unless told) with the built CLI into
 * `out`, as the prune tests' base: a few seconds on the CPU backend. Returns the CLI's result (code 0 expected).
 */
export function trainTinyListops(
  out: string,
  o: {
    train: number;
    val: number;
    test: number;
    dModel: number;
    epochs: number;
    dState?: number;
    lr?: number;
    minLength?: number;
    maxLength?: number;
    maxDepth?: number;
    maxArgs?: number;
    timeoutMs?: number;
  },
): Promise<RunResult> {
  return runCli(
    HOST_CLI,
    [
      'train',
      '--model',
      's4d',
      '--dataset',
      'listops',
      '--min-length',
      String(o.minLength ?? 10),
      '--max-length',
      String(o.maxLength ?? 40),
      '--max-depth',
      String(o.maxDepth ?? 3),
      '--max-args',
      String(o.maxArgs ?? 4),
      '--train',
      String(o.train),
      '--val',
      String(o.val),
      '--test',
      String(o.test),
      '--d-model',
      String(o.dModel),
      '--d-state',
      String(o.dState ?? 4),
      '--layers',
      '2',
      '--epochs',
      String(o.epochs),
      '--batch-size',
      '32',
      '--lr',
      String(o.lr ?? 0.01),
      '--out',
      out,
      '--backend',
      'cpu',
      '--json',
    ],
    { timeoutMs: o.timeoutMs ?? 120_000 },
  );
}
