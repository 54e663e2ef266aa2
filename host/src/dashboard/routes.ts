/**
 * The dashboard on the fleet server's port:
 *   GET /, /dashboard           the page (static; it asks for the data with the token from its #token=…)
 *   GET /dashboard/page-script.js  its script (browser/page-script.ts as built)
 *   GET /v1/dashboard           one JSON snapshot (bearer token, checked by the fleet's HTTP server for all of /v1/)
 *   GET /v1/dashboard/events    server-sent events: a snapshot at once, then one whenever something changed
 * Changes come from the fleet (agents up/down, job status, results) and from the run store, which other
 * processes (`s4op prune --server …`) write to; the store is checked every `pollMs`.
 */
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobManager } from '../fleet/link/jobs.js';
import type { FleetServer } from '../fleet/link/server.js';
import type { RunStore } from '../store/run-store.js';
import { DASHBOARD_HTML, DASHBOARD_SCRIPT_PATH } from './page.js';
import { DashboardSource, type DashboardState } from './state.js';

export interface DashboardOptions {
  server: FleetServer;
  jobs: JobManager;
  store: RunStore | null;
  pollMs?: number;
}

/** Registers the dashboard's routes on the fleet's HTTP server (before it listens). */
export function dashboardRoutes(app: FastifyInstance, opts: DashboardOptions): void {
  const source = new DashboardSource(opts.server, opts.jobs, opts.store);
  const clients = new Set<http.ServerResponse>();
  let dirty = true;
  let storeKey = '';
  let busy = false;
  let last: DashboardState | null = null;

  const markDirty = () => (dirty = true);
  opts.server.on('agent_up', markDirty);
  opts.server.on('agent_down', markDirty);
  opts.server.on('message', markDirty);

  const send = (res: http.ServerResponse, state: DashboardState) =>
    res.write(`event: state\ndata: ${JSON.stringify(state)}\n\n`);
  const tick = async () => {
    if (busy || clients.size === 0) return;
    const key = source.storeKey();
    if (!dirty && key === storeKey) return;
    busy = true;
    dirty = false;
    storeKey = key;
    try {
      last = await source.snapshot();
      for (const c of clients) send(c, last);
    } catch (err) {
      for (const c of clients)
        c.write(`event: failure\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), opts.pollMs ?? 500);
  const keepAlive = setInterval(() => clients.forEach((c) => c.write(': keep-alive\n\n')), 15_000);
  opts.server.once('stopping', () => {
    clearInterval(timer);
    clearInterval(keepAlive);
    for (const c of clients) c.end();
    clients.clear();
  });

  const page = async (_req: FastifyRequest, reply: FastifyReply) =>
    reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(DASHBOARD_HTML);
  const script = new URL('./browser/page-script.js', import.meta.url);
  app.get(DASHBOARD_SCRIPT_PATH, async (_req, reply) =>
    reply
      .header('content-type', 'text/javascript; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(await readFile(script)),
  );
  app.get('/', page);
  app.get('/dashboard', page);
  app.get('/v1/dashboard', async () => source.snapshot());
  app.get('/v1/dashboard/events', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    clients.add(res);
    res.on('close', () => clients.delete(res));
    // The newcomer gets the last snapshot now (or the next one soon), not after the next change.
    if (last && !dirty) send(res, last);
    else dirty = true;
    void tick();
  });
}
