/**
 * A real redis-server on a free loopback port for a test file, and worker processes in their own process
 * groups (a worker's sandboxed children die with it). Everything started here is killed by stopAll(), and
 * on the test process's exit, so no redis-server or worker outlives a test, even a failed one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { HOST_CLI } from './processes.js';

const groups = new Set<ChildProcess>();

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Whether this machine has redis-server (the queue tests need it; .ci/run installs it). */
export const hasRedis = () => spawnSync('redis-server', ['--version']).status === 0;

export interface Live {
  child: ChildProcess;
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGKILL to the whole process group; resolves once the leader is gone. */
  kill(): Promise<void>;
}

function track(child: ChildProcess): Live {
  groups.add(child);
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  const onData = (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (!line) continue;
      lines.push(line);
      for (const w of [...waiters])
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => groups.delete(child));
  return {
    child,
    lines,
    waitFor(pattern, timeoutMs = 30_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no line matching ${pattern} in ${timeoutMs} ms:\n${lines.slice(-30).join('\n')}`));
        }, timeoutMs);
        const w = { pattern, resolve: (l: string) => (clearTimeout(timer), resolve(l)) };
        waiters.push(w);
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) killGroup(child);
      await exited;
    },
  };
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

export async function startRedis(port: number): Promise<Live> {
  const r = track(
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  await r.waitFor(/Ready to accept connections/, 10_000);
  return r;
}

export async function startWorker(url: string, args: string[] = []): Promise<Live> {
  const w = track(
    spawn(process.execPath, [HOST_CLI, 'worker', '--redis', url, ...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  await w.waitFor(/ready on queue/, 20_000);
  return w;
}

export function stopAll(): void {
  for (const c of groups) killGroup(c);
  groups.clear();
}

process.on('exit', stopAll);
