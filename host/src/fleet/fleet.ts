/** A fleet server with its job manager and HTTP API wired together: what `s4op serve` and `s4op bench` start. */
import type { RunStore } from '../store/run-store.js';
import { fleetApi } from './http/jobs-routes.js';
import { deployApi } from './http/deploy-routes.js';
import { DeployController } from './deploy/controller.js';
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

export interface StartFleetOptions extends Omit<FleetServerOptions, 'http' | 'registry'> {
  /** The run store and its folder: agents are registered there and deployments run (`s4op serve`). */
  workspace?: { store: RunStore; dir: string };
}

export async function startFleet(opts: StartFleetOptions): Promise<Fleet> {
  const registry = opts.workspace ? new StoreAgentRegistry(opts.workspace.store, { log: (l) => (opts.log ?? ((x: string) => process.stderr.write(`${new Date().toISOString()} s4op serve: ${x}\n`)))(l) }) : undefined;
  // The APIs read these lazily: they exist by the time the first request arrives.
  const jobsApi = fleetApi((): FleetServer => server, (): JobManager => jobs, opts.token);
  const deployRoutes = opts.workspace ? deployApi((): FleetServer => server, (): DeployController => deploy!, opts.token) : null;
  const server: FleetServer = new FleetServer({
    ...opts,
    registry,
    http: async (req, res) => (deployRoutes ? await deployRoutes(req, res) : false) || jobsApi(req, res),
  });
  const jobs: JobManager = new JobManager(server);
  const log = (l: string) => server.logLine(l);
  const deploy = opts.workspace && registry ? new DeployController(server, jobs, registry, opts.workspace.store, opts.workspace.dir, log) : null;
  await server.start();
  deploy?.resume();
  // A server that runs for weeks forgets long-gone agents as it goes, not only when it starts.
  const prune = setInterval(() => {
    const n = server.registry.prune(new Date(Date.now() - REGISTRY_TTL_MS));
    if (n) log(`registry: forgot ${n} agent(s) offline for more than ${REGISTRY_TTL_MS / 86_400_000} days`);
  }, 6 * 3600 * 1000);
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
    },
  };
}
