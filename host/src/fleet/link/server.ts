/**
 * The host's end of the link: a WebSocket server, on the upgrades of the fleet's HTTP(S) server, that
 * authenticates agents before any work, validates every frame at the edge, keeps the registry of connected
 * agents, pings them, and streams model bytes in chunk frames when an agent asks for a hash it lacks.
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  CloseCode,
  DEFAULT_CHUNK_BYTES,
  MAX_FRAME_BYTES,
  PACKAGE_VERSION,
  PROTOCOL_VERSION,
  constantTimeEqual,
  encodeMessage,
  encodeModel,
  parseAgentMessage,
  type AgentMessage,
  type ErrorMessage,
  type Hello,
  type HostMessage,
  sha256Hex,
} from '@s4op/shared';
import { HostModels } from './models.js';
import { logSafe, oneLine } from './jobs.js';
import { MemoryAgentRegistry, type AgentRecord, type AgentRegistry } from './registry.js';

/** The stored form of an agent key: its sha256 (the key itself is only ever on the board). */
export function keyHash(key: string): string {
  return sha256Hex(key);
}

interface Live {
  ws: WebSocket;
  lastHeard: number;
  conn: AgentConnection | null;
  address: string;
}

export interface FleetServerOptions {
  /** The HTTP(S) server whose upgrades this link takes (the fleet's fastify server); its owner listens and closes it. */
  server: http.Server | https.Server;
  token: string;
  heartbeatMs?: number;
  handshakeTimeoutMs?: number;
  chunkBytes?: number;
  registry?: AgentRegistry;
  log?: (line: string) => void;
  /** Refused handshakes from one IP address within `windowMs` before its upgrades are turned away (429) for the rest of the window. */
  refusals?: { max: number; windowMs: number };
}

/** A live, authenticated agent connection. */
export class AgentConnection {
  constructor(
    readonly id: string,
    readonly hello: Hello,
    readonly address: string,
    private readonly ws: WebSocket,
  ) {}

  get name(): string {
    return this.hello.name;
  }

  get tags(): string[] {
    return this.hello.tags;
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send(message: HostMessage): boolean {
    if (!this.open) return false;
    this.ws.send(encodeMessage(message));
    return true;
  }

  sendBinary(frame: Uint8Array): boolean {
    if (!this.open) return false;
    this.ws.send(frame, { binary: true });
    return true;
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason.slice(0, 120));
  }
}

export interface FleetEvents {
  agent_up: [agent: AgentConnection];
  agent_down: [agent: AgentConnection, reason: string];
  message: [agent: AgentConnection, message: Exclude<AgentMessage, Hello>];
  auth_failure: [info: { address: string; name?: string; reason: string }];
  /** stop() began: long-lived HTTP responses (the dashboard's event stream) end themselves. */
  stopping: [];
}

export class FleetServer extends EventEmitter<FleetEvents> {
  readonly models = new HostModels();
  readonly registry: AgentRegistry;
  private readonly conns = new Map<string, AgentConnection>();
  private readonly byName = new Map<string, Set<AgentConnection>>();
  private readonly byTag = new Map<string, Set<AgentConnection>>();
  /** Every socket (authenticated or not) the one heartbeat sweep watches. */
  private readonly live = new Set<Live>();
  private sweep: NodeJS.Timeout | null = null;
  /** Refused handshakes per IP in the current window, and refusal log lines held back. */
  private refused = new Map<string, number>();
  private refusedWindow: NodeJS.Timeout | null = null;
  private refusedUnlogged = 0;
  private readonly server: http.Server | https.Server;
  private wss: WebSocketServer | null = null;
  private readonly log: (line: string) => void;
  private readonly heartbeatMs: number;

  constructor(private readonly opts: FleetServerOptions) {
    super();
    if (!opts.token) throw new Error('the fleet server needs a non-empty token');
    this.registry = opts.registry ?? new MemoryAgentRegistry();
    const base = opts.log ?? ((l: string) => process.stderr.write(`${new Date().toISOString()} s4op serve: ${l}\n`));
    // Peers choose some of what is logged (names, messages, versions): every line stays one line.
    this.log = (l) => base(oneLine(l));
    this.heartbeatMs = opts.heartbeatMs ?? 2000;
    this.server = opts.server;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo | null;
    if (!a) throw new Error('server not started');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.server instanceof https.Server ? 'wss' : 'ws'}://${host}:${a.port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Connected agents, by id. */
  agents(): AgentConnection[] {
    return [...this.conns.values()];
  }

  agent(id: string): AgentConnection | undefined {
    return this.conns.get(id);
  }

  /** Connected agents with this name (names are unique among registered agents, so at most one). */
  agentsNamed(name: string): AgentConnection[] {
    return [...(this.byName.get(name) ?? [])];
  }

  /** Connected agents carrying this tag. */
  agentsTagged(tag: string): AgentConnection[] {
    return [...(this.byTag.get(tag) ?? [])];
  }

  /** Number of connected agents. */
  get size(): number {
    return this.conns.size;
  }

  /** The server's log, for the parts wired to it (jobs, deployments). */
  get logLine(): (line: string) => void {
    return this.log;
  }

  private index(conn: AgentConnection, add: boolean): void {
    const put = (m: Map<string, Set<AgentConnection>>, k: string) => {
      let set = m.get(k);
      if (add) {
        if (!set) m.set(k, (set = new Set()));
        set.add(conn);
      } else if (set) {
        set.delete(conn);
        if (!set.size) m.delete(k);
      }
    };
    put(this.byName, conn.name);
    for (const t of conn.tags) put(this.byTag, t);
  }

  /** Takes the server's WebSocket upgrades and starts the heartbeat; the server's owner makes it listen. */
  start(): this {
    const { max, windowMs } = this.opts.refusals ?? { max: 20, windowMs: 10_000 };
    this.wss = new WebSocketServer({
      server: this.server,
      maxPayload: MAX_FRAME_BYTES,
      // An address whose handshakes keep being refused is turned away before any work (and any log line).
      verifyClient: (info, cb) => {
        const ip = info.req.socket.remoteAddress ?? '?';
        if (max > 0 && (this.refused.get(ip) ?? 0) >= max) {
          this.refusedUnlogged++;
          cb(false, 429, 'too many refused handshakes from this address; try again later');
        } else cb(true);
      },
    });
    this.wss.on('connection', (ws, req) =>
      this.onConnection(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`),
    );
    this.refusedWindow = setInterval(() => {
      if (this.refusedUnlogged > 0)
        this.log(
          `${this.refusedUnlogged} more refused or turned-away handshake(s) in the last ${windowMs} ms (not logged one by one)`,
        );
      this.refusedUnlogged = 0;
      this.refused = new Map();
    }, windowMs);
    this.refusedWindow.unref();
    // One sweep for every socket: ping the live, drop the silent (no timer per agent).
    this.sweep = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.sweep.unref();
    return this;
  }

  async stop(): Promise<void> {
    this.emit('stopping');
    if (this.sweep) clearInterval(this.sweep);
    if (this.refusedWindow) clearInterval(this.refusedWindow);
    for (const c of this.conns.values()) c.close(CloseCode.shutdown, 'host shutting down');
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
  }

  /** Streams a model the agent asked for, as chunk frames. */
  sendModel(agent: AgentConnection, sha256: string): boolean {
    const bytes = this.models.get(sha256);
    if (!bytes) {
      agent.send({
        type: 'error',
        code: 'unknown_model',
        message: `the host has no model ${sha256.slice(0, 12)}…`,
        sha256,
      });
      return false;
    }
    for (const frame of encodeModel(bytes, this.opts.chunkBytes ?? DEFAULT_CHUNK_BYTES, sha256))
      agent.sendBinary(frame);
    return true;
  }

  private heartbeat(): void {
    const now = Date.now();
    const limit = this.heartbeatMs * 2.5;
    for (const l of this.live) {
      if (now - l.lastHeard > limit) {
        this.log(`agent ${l.conn?.name ?? l.address} silent for ${now - l.lastHeard} ms: dropping it`);
        this.live.delete(l);
        l.ws.terminate();
        continue;
      }
      // Agents ping the host every beat (and the host's pong tells them it lives): heard from within the last
      // beat, an agent needs no ping of ours — at 1,000 agents that halves the idle traffic.
      if (now - l.lastHeard < this.heartbeatMs) continue;
      if (l.ws.readyState === l.ws.OPEN) l.ws.ping();
    }
  }

  private noteRefusal(address: string): boolean {
    const ip = address.slice(0, address.lastIndexOf(':'));
    const n = (this.refused.get(ip) ?? 0) + 1;
    this.refused.set(ip, n);
    // The first few of a window are logged one by one; the rest are counted and summarised.
    if (n <= 5) return true;
    this.refusedUnlogged++;
    return false;
  }

  private onConnection(ws: WebSocket, address: string): void {
    let conn: AgentConnection | null = null;
    const live: Live = { ws, lastHeard: Date.now(), conn: null, address };
    this.live.add(live);
    const refuse = (code: number, reason: string, name?: string) => {
      if (this.noteRefusal(address))
        this.log(
          `refused agent from ${address}${name !== undefined ? ` (${logSafe(name, 64)})` : ''}: ${logSafe(reason, 300)}`,
        );
      this.emit('auth_failure', { address, name, reason });
      const err: ErrorMessage = {
        type: 'error',
        code: code === CloseCode.protocolMismatch ? 'protocol_mismatch' : 'unauthorized',
        message: reason.slice(0, 4096),
      };
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(err));
      ws.close(code, reason.slice(0, 120));
    };
    const handshake = setTimeout(() => {
      if (!conn) refuse(CloseCode.handshakeTimeout, `no hello within ${this.opts.handshakeTimeoutMs ?? 10_000} ms`);
    }, this.opts.handshakeTimeoutMs ?? 10_000);
    ws.on('pong', () => (live.lastHeard = Date.now()));
    ws.on('ping', () => (live.lastHeard = Date.now()));
    const reply = (error: ErrorMessage) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(error));
    };

    ws.on('message', (data, isBinary) => {
      live.lastHeard = Date.now();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (!conn) {
        if (isBinary) return refuse(CloseCode.unauthorized, 'authenticate first: the first message must be hello');
        this.onHello(ws, address, buf.toString('utf8'), refuse, (c) => {
          conn = c;
          live.conn = c;
          clearTimeout(handshake);
        });
        return;
      }
      if (isBinary) {
        reply({ type: 'error', code: 'unexpected', message: 'the host does not accept binary frames from agents' });
        return;
      }
      const parsed = parseAgentMessage(buf.toString('utf8'));
      if (!parsed.ok) {
        this.log(`bad message from ${conn.name}: ${logSafe(parsed.error.message, 300)}`);
        reply(parsed.error);
        return;
      }
      const m = parsed.message;
      if (m.type === 'hello') {
        reply({ type: 'error', code: 'unexpected', message: 'already authenticated: hello is only the first message' });
        return;
      }
      if (m.type === 'need_model') this.sendModel(conn, m.sha256);
      else if (m.type === 'error')
        this.log(
          `agent ${conn.name} reports ${m.code}${m.field ? ` in ${logSafe(m.field, 100)}` : ''}: ${logSafe(m.message, 300)}`,
        );
      this.emit('message', conn, m);
    });

    ws.on('close', (code, reasonBuf) => {
      clearTimeout(handshake);
      this.live.delete(live);
      if (!conn) return;
      const reason = reasonBuf.toString() || `code ${code}`;
      if (this.conns.get(conn.id) === conn) {
        this.conns.delete(conn.id);
        this.index(conn, false);
        this.registry.setOffline(conn.id, new Date());
      }
      this.log(`agent ${conn.name} (${conn.id}) disconnected: ${reason}`);
      this.emit('agent_down', conn, reason);
    });
    ws.on('error', (err) => this.log(`socket error from ${conn?.name ?? address}: ${err.message}`));
  }

  private onHello(
    ws: WebSocket,
    address: string,
    text: string,
    refuse: (code: number, reason: string, name?: string) => void,
    accept: (c: AgentConnection) => void,
  ): void {
    let raw: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(text);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      raw = v as Record<string, unknown>;
    } catch {
      return refuse(CloseCode.unauthorized, 'authenticate first: the first message must be a JSON hello');
    }
    const name = typeof raw.name === 'string' ? raw.name : undefined;
    if (raw.type !== 'hello')
      return refuse(CloseCode.unauthorized, 'authenticate first: the first message must be hello', name);
    // Version before anything else: a newer agent's hello may not even fit this host's schema.
    if (raw.protocol !== PROTOCOL_VERSION) {
      return refuse(
        CloseCode.protocolMismatch,
        `protocol version mismatch: host speaks ${PROTOCOL_VERSION}, agent speaks ${JSON.stringify(raw.protocol)}`,
        name,
      );
    }
    if (typeof raw.token !== 'string' || raw.token === '') return refuse(CloseCode.unauthorized, 'missing token', name);
    if (!constantTimeEqual(raw.token, this.opts.token)) return refuse(CloseCode.unauthorized, 'wrong token', name);
    const parsed = parseAgentMessage(text);
    if (!parsed.ok || parsed.message.type !== 'hello') {
      const why = parsed.ok ? 'not a hello' : parsed.error.message;
      return refuse(CloseCode.unauthorized, `bad hello: ${why}`, name);
    }
    const hello = parsed.message;
    // Identity: the agent id, bound at its first registration to the agent's key (only its hash is kept here).
    const bound = this.registry.keyHashOf(hello.agent_id);
    if (bound) {
      if (!hello.agent_key)
        return refuse(
          CloseCode.unauthorized,
          `agent id ${hello.agent_id} is registered with a key and this hello carries none (a board re-flashed? remove the old registration with s4op fleet forget ${hello.agent_id})`,
          hello.name,
        );
      if (!constantTimeEqual(keyHash(hello.agent_key), bound))
        return refuse(CloseCode.unauthorized, `wrong agent key for agent id ${hello.agent_id}`, hello.name);
    }
    // A name belongs to the first agent registered with it: another id claiming it is an impostor or a mistake.
    const owner = this.registry.findByName(hello.name);
    if (owner && owner.id !== hello.agent_id) {
      return refuse(
        CloseCode.unauthorized,
        `the name "${hello.name}" belongs to agent ${owner.id}; pick another --name (or remove that agent with s4op fleet forget ${owner.id})`,
        hello.name,
      );
    }
    let note = '';
    if (!bound && hello.agent_key) {
      this.registry.setKeyHash(hello.agent_id, keyHash(hello.agent_key));
      note = ' (first registration: id bound to its key)';
    } else if (!bound) note = ' (no agent key: an agent from before per-agent keys, its id is not protected)';
    const conn = new AgentConnection(hello.agent_id, hello, address, ws);
    const previous = this.conns.get(conn.id);
    if (previous) {
      this.index(previous, false);
      previous.close(CloseCode.replaced, 'replaced by a newer connection of the same agent');
    }
    this.conns.set(conn.id, conn);
    this.index(conn, true);
    const now = new Date().toISOString();
    const record: AgentRecord = {
      id: hello.agent_id,
      name: hello.name,
      tags: hello.tags,
      agent_version: hello.agent_version,
      runtimes: hello.runtimes,
      device: hello.device,
      address,
      online: true,
      connected_at: now,
      last_seen: now,
    };
    this.registry.upsert(record);
    accept(conn);
    conn.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      host_version: PACKAGE_VERSION,
      heartbeat_ms: this.heartbeatMs,
    });
    const rts =
      hello.runtimes
        .filter((r) => r.available)
        .map((r) => `${r.name} ${r.version}`)
        .join(', ') || 'none';
    this.log(
      `agent ${hello.name} (${hello.agent_id}) connected from ${address}: ${logSafe(hello.device.cpu_model)}, ${logSafe(hello.device.arch)}, runtimes ${rts}${note}`,
    );
    this.emit('agent_up', conn);
  }
}
