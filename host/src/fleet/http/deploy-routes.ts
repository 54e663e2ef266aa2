/**
 * Deployment routes on the server's port (same bearer token as the rest of /v1/; bodies and responses as
 * `@s4op/shared`'s http-api says):
 *   POST   /v1/deployments                { model: {base64, name?, source?}, to, canary?, waves?, gate?, settings?, lab? } → 201 the deployment
 *   GET    /v1/deployments                history, newest first
 *   GET    /v1/deployments/:id            one deployment with its per-agent rows
 *   POST   /v1/deployments/:id/rollback   every agent serving its model restores the previous one
 *   GET    /v1/fleet                      agents with their active, previous and desired models and health (?offset, ?limit)
 *   DELETE /v1/fleet/agents/:id           forgets an agent that is offline
 */
import type { FastifyInstance } from 'fastify';
import { DeployRequest } from '@s4op/shared';
import { DeployError, type DeployController } from '../deploy/controller.js';
import { deploymentView, fleetView, pageFleet } from '../deploy/view.js';
import type { FleetServer } from '../link/server.js';
import { HttpError, bodyOf } from './server.js';

/** A non-negative integer query parameter, or `dflt` without one. */
function queryInt(query: unknown, k: string, dflt: number): number {
  const v = (query as Record<string, unknown>)[k];
  if (v === undefined) return dflt;
  const s = String(v);
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0)
    throw new HttpError(
      400,
      'bad_request',
      `query "${k}" must be a non-negative integer, got ${JSON.stringify(s.slice(0, 40))}`,
    );
  return n;
}

export function deployRoutes(
  app: FastifyInstance,
  server: () => FleetServer,
  controller: () => DeployController,
): void {
  app.get('/v1/fleet', async (req) => {
    const offset = queryInt(req.query, 'offset', 0);
    const limit = queryInt(req.query, 'limit', Number.MAX_SAFE_INTEGER);
    return pageFleet(
      fleetView(
        controller().registry,
        new Set(
          server()
            .agents()
            .map((a) => a.id),
        ),
      ),
      offset,
      limit,
    );
  });

  app.delete<{ Params: { id: string } }>('/v1/fleet/agents/:id', async (req) => {
    const id = req.params.id;
    if (server().agent(id))
      throw new HttpError(
        409,
        'online',
        `agent ${id} is connected: stop it (or let it go offline) before forgetting it`,
      );
    if (!controller().registry.remove(id))
      throw new HttpError(404, 'unknown_agent', `no registered agent with id ${id}`);
    return { forgotten: id };
  });

  app.get('/v1/deployments', async () => {
    const c = controller();
    return { deployments: c.deployments.list().map((d) => deploymentView(c.deployments, d)) };
  });

  app.get<{ Params: { id: string } }>('/v1/deployments/:id', async (req) => {
    const c = controller();
    const d = c.deployments.get(req.params.id);
    if (!d) throw new HttpError(404, 'unknown_deployment', `no deployment ${req.params.id}`);
    return deploymentView(c.deployments, d);
  });

  app.post<{ Params: { id: string } }>('/v1/deployments/:id/rollback', async (req) => {
    const c = controller();
    try {
      return deploymentView(c.deployments, await c.rollback(req.params.id));
    } catch (err) {
      if (err instanceof DeployError)
        throw new HttpError(err.code === 'unknown_deployment' ? 404 : 409, err.code, err.message);
      throw err;
    }
  });

  app.post('/v1/deployments', async (req, reply) => {
    const b = bodyOf(DeployRequest, req);
    const c = controller();
    try {
      const d = await c.create({
        model: { bytes: Buffer.from(b.model.base64, 'base64'), name: b.model.name, source: b.model.source },
        to: b.to,
        canary: b.canary,
        waves: b.waves,
        gate: b.gate,
        settings: b.settings,
        lab: b.lab ?? null,
      });
      return reply.code(201).send(deploymentView(c.deployments, d));
    } catch (err) {
      if (err instanceof DeployError) throw new HttpError(400, err.code, err.message);
      throw err;
    }
  });
}
