/** A fleet server with its job manager and HTTP API wired together: what `s4op serve` and `s4op bench` start. */
import type { FastifyInstance } from 'fastify';
import type { RunStore } from '../store/run-store.js';
import { agentPageRoutes } from './agent-page/routes.js';
import { DeployController } from './deploy/controller.js';
import { deployRoutes } from './http/deploy-routes.js';
import { jobsRoutes } from './http/jobs-routes.js';
import { createHttpServer } from './http/server.js';
import { JobManager } from './link/jobs.js';
import { StoreAgentRegistry } from './link/registry-store.js';
import { REGISTRY_TTL_MS } from './link/registry.js';
import { FleetServer, type FleetServerOptions } from './link/server.js';

export interface Fleet {
  server: FleetServer;
  jobs: JobManager;
  /** Deployments (only with a workspace: they live in its run store). */
  deploy: DeployController | null;
  stop(): Promise<void>;
}

/** More routes on the fleet's HTTP server (the dashboard), registered before it listens. */
export type FleetRoutes = (app: FastifyInstance, fleet: Omit<Fleet, 'stop'>) => void;

export interface StartFleetOptions extends Omit<FleetServerOptions, 'server' | 'registry'> {
  port: number;
  /** Interface to bind; loopback unless told otherwise. */
  bind?: string;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** The run store and its folder: agents are registered there and deployments run (`s4op serve`). */
  workspace?: { store: RunStore; dir: string };
  routes?: FleetRoutes[];
}

export async function startFleet(opts: StartFleetOptions): Promise<Fleet> {
  const baseLog = opts.log ?? ((x: string) => process.stderr.write(`${new Date().toISOString()} s4op serve: ${x}\n`));
  const registry = opts.workspace
    ? new StoreAgentRegistry(opts.workspace.store, { log: (l) => baseLog(l) })
    : undefined;
  const app = createHttpServer({ token: opts.token, tls: opts.tls, log: (l) => server.logLine(l) });
  const server: FleetServer = new FleetServer({ ...opts, registry, server: app.server });
  const jobs: JobManager = new JobManager(server);
  const log = (l: string) => server.logLine(l);
  const deploy =
    opts.workspace && registry
      ? new DeployController(server, jobs, registry, opts.workspace.store, opts.workspace.dir, log)
      : null;
  jobsRoutes(
    app,
    () => server,
    () => jobs,
  );
  if (deploy)
    deployRoutes(
      app,
      () => server,
      () => deploy,
    );
  // Every fleet serves the browser agent's page, so a tab can join `serve`, `bench --tag` and `prune --tag` alike.
  agentPageRoutes(app, { link: () => ({ url: server.url, token: opts.token }) });
  for (const r of opts.routes ?? []) r(app, { server, jobs, deploy });
  server.start();
  try {
    await app.listen({ port: opts.port, host: opts.bind ?? '127.0.0.1' });
  } catch (err) {
    await server.stop();
    deploy?.close();
    jobs.close();
    throw err;
  }
  deploy?.resume();
  // A server that runs for weeks forgets long-gone agents as it goes, not only when it starts.
  const prune = setInterval(
    () => {
      const n = server.registry.prune(new Date(Date.now() - REGISTRY_TTL_MS));
      if (n) log(`registry: forgot ${n} agent(s) offline for more than ${REGISTRY_TTL_MS / 86_400_000} days`);
    },
    6 * 3600 * 1000,
  );
  prune.unref();
  return {
    server,
    jobs,
    deploy,
    stop: async () => {
      clearInterval(prune);
      deploy?.close();
      jobs.close();
      await server.stop();
      await app.close();
    },
  };
}
