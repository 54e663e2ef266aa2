/**
 * The host's end of the link: a WebSocket server (plain or TLS) that authenticates agents before any
 * work, validates every frame at the edge, keeps the registry of connected agents, pings them, and
 * streams model bytes in chunk frames when an agent asks for a hash it lacks.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
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
} from '@s4op/shared';
import { HostModels } from './models.js';
import { MemoryAgentRegistry, type AgentRecord, type AgentRegistry } from './registry.js';

export interface FleetServerOptions {
  port: number;
  /** Interface to bind; loopback unless told otherwise. */
  bind?: string;
  token: string;
  tls?: { cert: string | Buffer; key: string | Buffer };
  heartbeatMs?: number;
  handshakeTimeoutMs?: number;
  chunkBytes?: number;
  registry?: AgentRegistry;
  log?: (line: string) => void;
  /** Extra HTTP routes on the same port (the job API); return false to fall through to 404. */
  http?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
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

/** An HTTP route handler on the server's port; returns false to fall through. */
export type HttpRoutes = (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;

export class FleetServer extends EventEmitter<FleetEvents> {
  readonly models = new HostModels();
  readonly registry: AgentRegistry;
  private readonly conns = new Map<string, AgentConnection>();
  private server: http.Server | https.Server | null = null;
  private wss: WebSocketServer | null = null;
  private readonly log: (line: string) => void;
  private readonly heartbeatMs: number;
  private readonly routes: HttpRoutes[] = [];

  constructor(private readonly opts: FleetServerOptions) {
    super();
    if (!opts.token) throw new Error('the fleet server needs a non-empty token');
    this.registry = opts.registry ?? new MemoryAgentRegistry();
    this.log = opts.log ?? ((l) => process.stderr.write(`${new Date().toISOString()} s4op serve: ${l}\n`));
    this.heartbeatMs = opts.heartbeatMs ?? 2000;
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null;
    if (!a) throw new Error('server not started');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.opts.tls ? 'wss' : 'ws'}://${host}:${a.port}`;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  /** Connected agents, by id. */
  agents(): AgentConnection[] {
    return [...this.conns.values()];
  }

  agent(id: string): AgentConnection | undefined {
    return this.conns.get(id);
  }

  /** More HTTP routes on the same port (the dashboard), tried before the `http` option's. */
  addRoutes(routes: HttpRoutes): void {
    this.routes.push(routes);
  }

  async start(): Promise<this> {
    const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      try {
        for (const r of this.routes) if (await r(req, res)) return;
        if (this.opts.http && (await this.opts.http(req, res))) return;
      } catch (err) {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: err instanceof Error ? err.message : String(err) } }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } }));
    };
    this.server = this.opts.tls ? https.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, handler) : http.createServer(handler);
    this.wss = new WebSocketServer({ server: this.server, maxPayload: MAX_FRAME_BYTES });
    this.wss.on('connection', (ws, req) => this.onConnection(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.bind ?? '127.0.0.1', () => resolve());
    });
    return this;
  }

  async stop(): Promise<void> {
    this.emit('stopping');
    for (const c of this.conns.values()) c.close(CloseCode.shutdown, 'host shutting down');
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
  }

  /** Streams a model the agent asked for, as chunk frames. */
  sendModel(agent: AgentConnection, sha256: string): boolean {
    const bytes = this.models.get(sha256);
    if (!bytes) {
      agent.send({ type: 'error', code: 'unknown_model', message: `the host has no model ${sha256.slice(0, 12)}…`, sha256 });
      return false;
    }
    for (const frame of encodeModel(bytes, this.opts.chunkBytes ?? DEFAULT_CHUNK_BYTES, sha256)) agent.sendBinary(frame);
    return true;
  }

  private onConnection(ws: WebSocket, address: string): void {
    let conn: AgentConnection | null = null;
    let lastHeard = Date.now();
    const refuse = (code: number, reason: string, name?: string) => {
      this.log(`refused agent from ${address}${name ? ` (${name})` : ''}: ${reason}`);
      this.emit('auth_failure', { address, name, reason });
      const err: ErrorMessage = { type: 'error', code: code === CloseCode.protocolMismatch ? 'protocol_mismatch' : 'unauthorized', message: reason };
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(err));
      ws.close(code, reason.slice(0, 120));
    };
    const handshake = setTimeout(() => {
      if (!conn) refuse(CloseCode.handshakeTimeout, `no hello within ${this.opts.handshakeTimeoutMs ?? 10_000} ms`);
    }, this.opts.handshakeTimeoutMs ?? 10_000);
    const beat = setInterval(() => {
      if (Date.now() - lastHeard > this.heartbeatMs * 2.5) {
        this.log(`agent ${conn?.name ?? address} silent for ${Date.now() - lastHeard} ms: dropping it`);
        ws.terminate();
        return;
      }
      if (ws.readyState === ws.OPEN) ws.ping();
    }, this.heartbeatMs);
    ws.on('pong', () => (lastHeard = Date.now()));
    ws.on('ping', () => (lastHeard = Date.now()));
    const reply = (error: ErrorMessage) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(error));
    };

    ws.on('message', (data, isBinary) => {
      lastHeard = Date.now();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (!conn) {
        if (isBinary) return refuse(CloseCode.unauthorized, 'authenticate first: the first message must be hello');
        this.onHello(ws, address, buf.toString('utf8'), refuse, (c) => {
          conn = c;
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
        this.log(`bad message from ${conn.name}: ${parsed.error.message}`);
        reply(parsed.error);
        return;
      }
      const m = parsed.message;
      if (m.type === 'hello') {
        reply({ type: 'error', code: 'unexpected', message: 'already authenticated: hello is only the first message' });
        return;
      }
      if (m.type === 'need_model') this.sendModel(conn, m.sha256);
      else if (m.type === 'error') this.log(`agent ${conn.name} reports ${m.code}${m.field ? ` in ${m.field}` : ''}: ${m.message}`);
      this.emit('message', conn, m);
    });

    ws.on('close', (code, reasonBuf) => {
      clearTimeout(handshake);
      clearInterval(beat);
      if (!conn) return;
      const reason = reasonBuf.toString() || `code ${code}`;
      if (this.conns.get(conn.id) === conn) {
        this.conns.delete(conn.id);
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
    const name = typeof raw.name === 'string' ? raw.name.slice(0, 64) : undefined;
    if (raw.type !== 'hello') return refuse(CloseCode.unauthorized, 'authenticate first: the first message must be hello', name);
    // Version before anything else: a newer agent's hello may not even fit this host's schema.
    if (raw.protocol !== PROTOCOL_VERSION) {
      return refuse(CloseCode.protocolMismatch, `protocol version mismatch: host speaks ${PROTOCOL_VERSION}, agent speaks ${JSON.stringify(raw.protocol)}`, name);
    }
    if (typeof raw.token !== 'string' || raw.token === '') return refuse(CloseCode.unauthorized, 'missing token', name);
    if (!constantTimeEqual(raw.token, this.opts.token)) return refuse(CloseCode.unauthorized, 'wrong token', name);
    const parsed = parseAgentMessage(text);
    if (!parsed.ok || parsed.message.type !== 'hello') {
      const why = parsed.ok ? 'not a hello' : parsed.error.message;
      return refuse(CloseCode.unauthorized, `bad hello: ${why}`, name);
    }
    const hello = parsed.message;
    const conn = new AgentConnection(hello.agent_id, hello, address, ws);
    const previous = this.conns.get(conn.id);
    if (previous) previous.close(CloseCode.replaced, 'replaced by a newer connection of the same agent');
    this.conns.set(conn.id, conn);
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
    conn.send({ type: 'welcome', protocol: PROTOCOL_VERSION, host_version: PACKAGE_VERSION, heartbeat_ms: this.heartbeatMs });
    const rts = hello.runtimes.filter((r) => r.available).map((r) => `${r.name} ${r.version}`).join(', ') || 'none';
    this.log(`agent ${hello.name} (${hello.agent_id}) connected from ${address}: ${hello.device.cpu_model}, ${hello.device.arch}, runtimes ${rts}`);
    this.emit('agent_up', conn);
  }
}
