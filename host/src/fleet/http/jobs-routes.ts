/**
 * A small HTTP API on the fleet server's port, so `s4op bench` (and later the pruning loop) can use a
 * running `s4op serve`:
 *   GET  /v1/agents    connected and known agents
 *   POST /v1/measure   { agent?, tag?, job_id?, settings?, models: [{ name?, base64 }] } → { job_id, agent, measurement }
 * Both need `Authorization: Bearer <token>`.
 */
import type http from 'node:http';
import { constantTimeEqual } from '@s4op/shared';
import { BodyError, readBounded, sendBodyError } from './body.js';
import { JobFailed, jobIdProblem, type JobManager } from '../link/jobs.js';
import type { FleetServer } from '../link/server.js';

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const body = await readBounded(req);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new Error(`body is not JSON: ${(err as Error).message}`);
  }
}

interface MeasureBody {
  agent?: string;
  tag?: string;
  job_id?: string;
  settings?: unknown;
  wait_for_agent_ms?: number;
  models: { name?: string; base64: string }[];
}

function checkBody(body: unknown): MeasureBody {
  if (typeof body !== 'object' || body === null) throw new Error('body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.models) || b.models.length < 1 || b.models.length > 2) throw new Error('field "models" must list one model (two for A/B)');
  b.models.forEach((m: unknown, i: number) => {
    if (typeof m !== 'object' || m === null || typeof (m as { base64?: unknown }).base64 !== 'string') throw new Error(`field "models.${i}.base64" must be a base64 string`);
  });
  for (const k of ['agent', 'tag', 'job_id'] as const) if (b[k] !== undefined && typeof b[k] !== 'string') throw new Error(`field "${k}" must be a string`);
  if (b.job_id !== undefined) {
    const problem = jobIdProblem(b.job_id);
    if (problem) throw new Error(`field "job_id": ${problem}`);
  }
  return b as unknown as MeasureBody;
}

export function fleetApi(server: () => FleetServer, jobs: () => JobManager, token: string) {
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!url.pathname.startsWith('/v1/')) return false;
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!given || !constantTimeEqual(given, token)) {
      send(res, 401, { error: { code: 'unauthorized', message: given ? 'wrong token' : 'missing token (Authorization: Bearer …)' } });
      return true;
    }
    if (req.method === 'GET' && url.pathname === '/v1/agents') {
      const online = new Set(server().agents().map((a) => a.id));
      send(res, 200, { agents: server().registry.list().map((r) => ({ ...r, online: online.has(r.id) })), jobs: jobs().list() });
      return true;
    }
    if (req.method === 'POST' && url.pathname === '/v1/measure') {
      let body: MeasureBody;
      try {
        body = checkBody(await readJson(req));
      } catch (err) {
        if (err instanceof BodyError) sendBodyError(res, err);
        else send(res, 400, { error: { code: 'bad_request', message: (err as Error).message } });
        return true;
      }
      try {
        const outcome = await jobs().submit({
          target: { agent: body.agent, tag: body.tag },
          models: body.models.map((m) => ({ bytes: Buffer.from(m.base64, 'base64'), name: m.name })),
          settings: body.settings,
          job_id: body.job_id,
          waitForAgentMs: body.wait_for_agent_ms,
        });
        send(res, 200, outcome);
      } catch (err) {
        if (err instanceof JobFailed) {
          const status = err.code === 'no_agent' ? 404 : err.code === 'bad_request' ? 400 : err.code === 'ambiguous_agent' || err.code === 'duplicate_job' ? 409 : 422;
          send(res, status, { error: { code: err.code, message: err.message, job_id: err.job_id } });
        }
        else throw err;
      }
      return true;
    }
    return false;
  };
}
