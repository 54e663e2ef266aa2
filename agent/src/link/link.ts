/**
 * The agent's side of the WebSocket: it dials the host, says hello, and keeps the link alive. Reconnects
 * use exponential backoff with full jitter (so a fleet that lost its host does not come back in lock-step);
 * both sides ping every heartbeat and drop a peer that stays silent for 2.5 heartbeats, so a dead host is
 * noticed within seconds even when TCP would not notice for minutes. A refused handshake (wrong token,
 * other protocol version) is final: retrying could not fix it.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import {
  CloseCode,
  MAX_FRAME_BYTES,
  encodeMessage,
  parseHostMessage,
  type AgentMessage,
  type HostMessage,
  type ErrorMessage,
  PROTOCOL_VERSION,
} from '@s4op/shared';

export interface LinkOptions {
  url: string;
  hello: () => Promise<Extract<AgentMessage, { type: 'hello' }>>;
  /** PEM CA for a host certificate not signed by a public CA (wss). */
  ca?: string | Buffer;
  /** Accept any host certificate (wss, testing only). */
  insecure?: boolean;
  backoff?: { initialMs: number; maxMs: number };
  /** Until the host's welcome states its own. */
  heartbeatMs?: number;
  log: (line: string) => void;
}

export interface LinkEvents {
  ready: [welcome: Extract<HostMessage, { type: 'welcome' }>];
  message: [message: HostMessage];
  binary: [frame: Buffer];
  down: [reason: string];
  fatal: [reason: string];
}

const FATAL_CODES = new Set<number>([CloseCode.protocolMismatch, CloseCode.unauthorized]);

export class AgentLink extends EventEmitter<LinkEvents> {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private stopped = false;
  private ready = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private lastHeard = 0;

  constructor(private readonly opts: LinkOptions) {
    super();
  }

  get isReady(): boolean {
    return this.ready;
  }

  start(): void {
    this.stopped = false;
    this.dial();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.stopHeartbeat();
    this.ws?.close(1000, 'agent stopping');
    this.ws = null;
  }

  /** Sends a JSON message; false (message dropped) while not connected and welcomed. */
  send(message: AgentMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || (!this.ready && message.type !== 'hello')) return false;
    ws.send(encodeMessage(message));
    return true;
  }

  /** Replies to a bad frame from the host; the link stays up. */
  sendError(error: ErrorMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(error));
  }

  private delay(): number {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 250, maxMs: 15_000 };
    const cap = Math.min(maxMs, initialMs * 2 ** this.attempt);
    // Full jitter over the upper half keeps a floor while spreading reconnects out.
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }

  private schedule(): void {
    if (this.stopped) return;
    const wait = this.delay();
    this.attempt = Math.min(this.attempt + 1, 30);
    this.opts.log(`reconnecting in ${wait} ms`);
    this.retry = setTimeout(() => this.dial(), wait);
  }

  private dial(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.opts.url, {
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      ca: this.opts.ca,
      rejectUnauthorized: !this.opts.insecure,
    });
    this.ws = ws;
    this.ready = false;
    let closedReason = '';
    ws.on('open', () => {
      this.lastHeard = Date.now();
      this.startHeartbeat(this.opts.heartbeatMs ?? 2000);
      void this.opts.hello().then((h) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(encodeMessage(h));
      });
    });
    ws.on('ping', () => (this.lastHeard = Date.now()));
    ws.on('pong', () => (this.lastHeard = Date.now()));
    ws.on('message', (data, isBinary) => {
      this.lastHeard = Date.now();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) {
        if (this.ready) this.emit('binary', buf);
        return;
      }
      const parsed = parseHostMessage(buf.toString('utf8'));
      if (!parsed.ok) {
        this.opts.log(`bad message from host: ${parsed.error.message}`);
        this.sendError(parsed.error);
        return;
      }
      const m = parsed.message;
      if (m.type === 'welcome') {
        if (this.ready) {
          this.sendError({
            type: 'error',
            code: 'unexpected',
            message: 'welcome arrived twice on one connection; ignored',
          });
          return;
        }
        if (m.protocol !== PROTOCOL_VERSION) {
          const reason = `protocol version mismatch: host speaks ${m.protocol}, this agent speaks ${PROTOCOL_VERSION}`;
          this.emit('fatal', reason);
          ws.close(CloseCode.protocolMismatch, reason);
          return;
        }
        this.ready = true;
        this.attempt = 0;
        this.startHeartbeat(m.heartbeat_ms);
        this.emit('ready', m);
        return;
      }
      if (!this.ready) return;
      this.emit('message', m);
    });
    ws.on('error', (err) => {
      closedReason = err.message;
    });
    ws.on('unexpected-response', (_req, res) => {
      closedReason = `host answered the upgrade with HTTP ${res.statusCode}`;
      ws.terminate();
    });
    ws.on('close', (code, reasonBuf) => {
      const reason = reasonBuf.toString() || closedReason || `code ${code}`;
      const wasReady = this.ready;
      this.ready = false;
      this.stopHeartbeat();
      if (this.ws === ws) this.ws = null;
      if (FATAL_CODES.has(code)) {
        this.stopped = true;
        this.emit('fatal', `host refused the agent (${code}): ${reason}`);
        return;
      }
      this.emit('down', reason);
      if (wasReady) this.opts.log(`link down: ${reason}`);
      this.schedule();
    });
  }

  private startHeartbeat(ms: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      const ws = this.ws;
      if (!ws) return;
      if (Date.now() - this.lastHeard > ms * 2.5) {
        this.opts.log(`host silent for ${Date.now() - this.lastHeard} ms: dropping the link`);
        ws.terminate();
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.ping();
    }, ms);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
