/**
 * Deployment routes on the server's HTTP port (same bearer token as the rest of /v1/):
 *   POST /v1/deployments       { model: {base64, name?, source?}, to, canary?, waves?, gate?, settings?, lab? } → 201 the deployment
 *   GET  /v1/deployments       history, newest first
 *   GET  /v1/deployments/:id   one deployment with its per-agent rows
 *   POST /v1/deployments/:id/rollback   every agent serving its model restores the previous one
 *   GET  /v1/fleet             agents with their active, previous and desired models and health
 */
import type http from 'node:http';
import { constantTimeEqual } from '@s4op/shared';
import { DeployError, type DeployController } from '../deploy/controller.js';
import type { LabRecord, ModelSource } from '../deploy/store.js';
import { deploymentView, fleetView, pageFleet } from '../deploy/view.js';
import type { FleetServer } from '../link/server.js';
import { BodyError, readBounded, sendBodyError } from './body.js';

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBounded(req);
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new DeployError('bad_request', `body is not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DeployError('bad_request', 'body must be a JSON object');
  return v as Record<string, unknown>;
}

const LAB_NUMBERS = ['threads', 'p50_ms', 'p90_ms', 'p99_ms', 'mean_ms', 'rss_mb'] as const;
const LAB_TEXTS = ['runtime', 'runtime_version', 'export_mode', 'export_variant', 'measured_at'] as const;

/** The lab record travels from the client: its figures feed the gate, so their types are checked. */
function checkLab(v: unknown): LabRecord | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new DeployError('bad_request', 'field "lab" must be an object or null');
  const lab = v as Record<string, unknown>;
  if (typeof lab.agent !== 'string') throw new DeployError('bad_request', 'field "lab.agent" must be a string');
  for (const k of LAB_NUMBERS) if (lab[k] != null && !(typeof lab[k] === 'number' && Number.isFinite(lab[k]))) throw new DeployError('bad_request', `field "lab.${k}" must be a finite number or null`);
  for (const k of LAB_TEXTS) if (lab[k] != null && typeof lab[k] !== 'string') throw new DeployError('bad_request', `field "lab.${k}" must be a string or null`);
  if (lab.settings != null && (typeof lab.settings !== 'object' || Array.isArray(lab.settings))) throw new DeployError('bad_request', 'field "lab.settings" must be an object or null');
  const out = { settings: null, ...lab } as Record<string, unknown>;
  for (const k of [...LAB_NUMBERS, ...LAB_TEXTS]) out[k] ??= null;
  return out as unknown as LabRecord;
}

function isSource(v: unknown): v is ModelSource {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (s.kind === 'candidate' || s.kind === 'file') && (s.candidate_id === undefined || Number.isInteger(s.candidate_id)) && (s.run_id === undefined || typeof s.run_id === 'string') && (s.path === undefined || typeof s.path === 'string');
}

export function deployApi(server: () => FleetServer, controller: () => DeployController, token: string) {
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'v1' || !['deployments', 'fleet'].includes(parts[1] ?? '')) return false;
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!given || !constantTimeEqual(given, token)) {
      send(res, 401, { error: { code: 'unauthorized', message: given ? 'wrong token' : 'missing token (Authorization: Bearer …)' } });
      return true;
    }
    const c = controller();
    if (req.method === 'GET' && parts[1] === 'fleet' && parts.length === 2) {
      const num = (k: string, dflt: number) => {
        const v = url.searchParams.get(k);
        if (v === null) return dflt;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new DeployError('bad_request', `query "${k}" must be a non-negative integer, got ${JSON.stringify(v.slice(0, 40))}`);
        return n;
      };
      let offset: number, limit: number;
      try {
        offset = num('offset', 0);
        limit = num('limit', Number.MAX_SAFE_INTEGER);
      } catch (err) {
        send(res, 400, { error: { code: 'bad_request', message: (err as Error).message } });
        return true;
      }
      send(res, 200, pageFleet(fleetView(c.registry, new Set(server().agents().map((a) => a.id))), offset, limit));
      return true;
    }
    if (req.method === 'DELETE' && parts[1] === 'fleet' && parts[2] === 'agents' && parts.length === 4) {
      const id = decodeURIComponent(parts[3]!);
      if (server().agent(id)) {
        send(res, 409, { error: { code: 'online', message: `agent ${id} is connected: stop it (or let it go offline) before forgetting it` } });
        return true;
      }
      if (!c.registry.remove(id)) send(res, 404, { error: { code: 'unknown_agent', message: `no registered agent with id ${id}` } });
      else send(res, 200, { forgotten: id });
      return true;
    }
    if (parts[1] !== 'deployments') return false;
    if (req.method === 'GET' && parts.length === 2) {
      send(res, 200, { deployments: c.deployments.list().map((d) => deploymentView(c.deployments, d)) });
      return true;
    }
    if (req.method === 'GET' && parts.length === 3) {
      const d = c.deployments.get(parts[2]!);
      if (!d) send(res, 404, { error: { code: 'unknown_deployment', message: `no deployment ${parts[2]}` } });
      else send(res, 200, deploymentView(c.deployments, d));
      return true;
    }
    if (req.method === 'POST' && parts.length === 4 && parts[3] === 'rollback') {
      try {
        const d = await c.rollback(parts[2]!);
        send(res, 200, deploymentView(c.deployments, d));
      } catch (err) {
        if (err instanceof DeployError) send(res, err.code === 'unknown_deployment' ? 404 : 409, { error: { code: err.code, message: err.message } });
        else throw err;
      }
      return true;
    }
    if (req.method === 'POST' && parts.length === 2) {
      try {
        const b = await readJson(req);
        const model = b.model as { base64?: unknown; name?: unknown; source?: unknown } | undefined;
        if (!model || typeof model.base64 !== 'string') throw new DeployError('bad_request', 'field "model.base64" must hold the ONNX bytes as base64');
        if (typeof b.to !== 'string') throw new DeployError('bad_target', 'field "to" must be a target such as tag:pi4 or agent:NAME');
        for (const k of ['canary', 'gate'] as const) if (b[k] !== undefined && typeof b[k] !== 'string') throw new DeployError('bad_request', `field "${k}" must be a string`);
        const lab = checkLab(b.lab);
        const source = model.source === undefined || isSource(model.source) ? (model.source as ModelSource | undefined) : undefined;
        if (model.source !== undefined && !source) throw new DeployError('bad_request', 'field "model.source" must be {kind: "candidate"|"file", candidate_id?, run_id?, path?}');
        const d = await c.create({
          model: { bytes: Buffer.from(model.base64, 'base64'), name: typeof model.name === 'string' ? model.name : undefined, source },
          to: b.to,
          canary: b.canary as string | undefined,
          waves: b.waves as number | undefined,
          gate: b.gate as string | undefined,
          settings: b.settings,
          lab,
        });
        send(res, 201, deploymentView(c.deployments, d));
      } catch (err) {
        if (err instanceof BodyError) sendBodyError(res, err);
        else if (err instanceof DeployError) send(res, 400, { error: { code: err.code, message: err.message } });
        else throw err;
      }
      return true;
    }
    return false;
  };
}
