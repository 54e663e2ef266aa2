/** Helpers for link tests: raw protocol peers and a valid hello, so tests can say exactly what goes on the wire. */
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../shared/dist/index.js';

export function tmpDir(prefix = 's4op-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A port that was free a moment ago (for tests that start a server later on a known port). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export function hello(token: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  // Names are unique among registered agents: each raw peer gets its own unless the test names it.
  const suffix = Math.random().toString(36).slice(2);
  return {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    token,
    agent_id: `raw-${suffix}`,
    name: `raw-peer-${suffix}`,
    tags: ['raw'],
    agent_version: '0.0.0-test',
    runtimes: [],
    device: {
      hostname: 'test',
      cpu_model: 'test cpu',
      cores: 1,
      cpu_max_mhz: null,
      cpu_current_mhz: null,
      memory_total_mb: 1,
      os: 'test',
      arch: 'x64',
      temperature_c: null,
      board_model: null,
    },
    ...overrides,
  };
}

/** A WebSocket peer that records what it receives. */
export interface RawPeer {
  ws: WebSocket;
  texts: Record<string, unknown>[];
  binaries: Buffer[];
  closed: Promise<{ code: number; reason: string }>;
  next(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(m: unknown): void;
}

export function rawPeer(ws: WebSocket): RawPeer {
  const texts: Record<string, unknown>[] = [];
  const binaries: Buffer[] = [];
  const waiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] =
    [];
  ws.on('message', (data, isBinary) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) {
      binaries.push(buf);
      return;
    }
    const m = JSON.parse(buf.toString()) as Record<string, unknown>;
    texts.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, r) => resolve({ code, reason: r.toString() })),
  );
  ws.on('error', () => undefined);
  return {
    ws,
    texts,
    binaries,
    closed,
    next(pred, timeoutMs = 15_000) {
      const seen = texts.find(pred);
      if (seen) {
        texts.splice(texts.indexOf(seen), 1);
        return Promise.resolve(seen);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(texts).slice(0, 2000)}`),
            ),
          timeoutMs,
        );
        waiters.push({
          pred,
          resolve: (m) => {
            clearTimeout(timer);
            texts.splice(texts.indexOf(m), 1);
            resolve(m);
          },
        });
      });
    },
    send(m) {
      ws.send(
        typeof m === 'string' || Buffer.isBuffer(m) || m instanceof Uint8Array ? (m as string) : JSON.stringify(m),
      );
    },
  };
}

export async function connectRaw(url: string, opts: WebSocket.ClientOptions = {}): Promise<RawPeer> {
  const ws = new WebSocket(url, { maxPayload: 64 * 2 ** 20, ...opts });
  const peer = rawPeer(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return peer;
}
