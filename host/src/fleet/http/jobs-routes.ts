/**
 * The fleet API on the server's port, so `s4op bench` and the pruning loop can use a running `s4op serve`
 * (bearer token checked by the server's hook; bodies and responses as `@s4op/shared`'s http-api says):
 *   GET  /v1/agents    connected and known agents, and the jobs in flight
 *   POST /v1/measure   { agent?, tag?, job_id?, settings?, wait_for_agent_ms?, models: [{ name?, base64 }] } → { job_id, agent, measurement }
 */
import type { FastifyInstance } from 'fastify';
import { MeasureRequest } from '@s4op/shared';
import { JobFailed, jobIdProblem, type JobManager } from '../link/jobs.js';
import type { FleetServer } from '../link/server.js';
import { HttpError, bodyOf } from './server.js';

/** The status a failed job answers with. */
function jobStatus(code: JobFailed['code']): number {
  if (code === 'no_agent') return 404;
  if (code === 'bad_request') return 400;
  if (code === 'ambiguous_agent' || code === 'duplicate_job') return 409;
  return 422;
}

export function jobsRoutes(app: FastifyInstance, server: () => FleetServer, jobs: () => JobManager): void {
  app.get('/v1/agents', async () => {
    const online = new Set(
      server()
        .agents()
        .map((a) => a.id),
    );
    return {
      agents: server()
        .registry.list()
        .map((r) => ({ ...r, online: online.has(r.id) })),
      jobs: jobs().list(),
    };
  });

  app.post('/v1/measure', async (req) => {
    const body = bodyOf(MeasureRequest, req);
    if (body.job_id !== undefined) {
      const problem = jobIdProblem(body.job_id);
      if (problem) throw new HttpError(400, 'bad_request', `field "job_id": ${problem}`);
    }
    try {
      return await jobs().submit({
        target: { agent: body.agent, tag: body.tag },
        models: body.models.map((m) => ({ bytes: Buffer.from(m.base64, 'base64'), name: m.name })),
        settings: body.settings,
        job_id: body.job_id,
        waitForAgentMs: body.wait_for_agent_ms ?? undefined,
      });
    } catch (err) {
      if (err instanceof JobFailed)
        throw new HttpError(jobStatus(err.code), err.code, err.message, { job_id: err.job_id });
      throw err;
    }
  });
}
