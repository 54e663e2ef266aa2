/** A fleet server with its job manager and HTTP API wired together: what `s4op serve` and `s4op bench` start. */
import type { RunStore } from '../store/run-store.js';
import { fleetApi } from './api.js';
import { deployApi } from './deploy-api.js';
import { DeployController } from './deploy-controller.js';
import { JobManager } from './jobs.js';
import { StoreAgentRegistry } from './registry-store.js';
import { FleetServer, type FleetServerOptions } from './server.js';

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
  const registry = opts.workspace ? new StoreAgentRegistry(opts.workspace.store) : undefined;
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
  return {
    server,
    jobs,
    deploy,
    stop: async () => {
      deploy?.close();
      jobs.close();
      await server.stop();
    },
  };
}
