/** A fleet server with its job manager and HTTP API wired together: what `s4op serve` and `s4op bench` start. */
import { fleetApi } from './api.js';
import { JobManager } from './jobs.js';
import { FleetServer, type FleetServerOptions } from './server.js';

export interface Fleet {
  server: FleetServer;
  jobs: JobManager;
  stop(): Promise<void>;
}

export async function startFleet(opts: Omit<FleetServerOptions, 'http'>): Promise<Fleet> {
  // The API reads both lazily: they exist by the time the first request arrives.
  const server: FleetServer = new FleetServer({ ...opts, http: fleetApi((): FleetServer => server, (): JobManager => jobs, opts.token) });
  const jobs: JobManager = new JobManager(server);
  await server.start();
  return {
    server,
    jobs,
    stop: async () => {
      jobs.close();
      await server.stop();
    },
  };
}
