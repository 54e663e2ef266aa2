/**
 * The HTTP side of `s4op serve`'s port: one fastify server that hosts the fleet API (agents, measure), the
 * deploy API and the dashboard, and whose node server the agents' WebSocket link attaches to (upgrades).
 * Shared by every route: the bearer check on /v1/ (one hook, before any body byte is read), bounded bodies
 * (fastify's bodyLimit, and a cap on bodies read at once so a burst of large or stalled uploads cannot grow
 * the server without bound: 413 and 503), JSON errors `{error: {code, message}}` and 404s in that shape.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  BodyLimitError,
  bearerProblem,
  bodyLimitHeaders,
  busy,
  checkWith,
  parseJsonObject,
  tooLarge,
} from '@s4op/shared';
import type { z } from 'zod';

/** Largest body the API takes: a base64 model of 48 MiB (S4/S4D exports for boards are far smaller). */
export const MAX_BODY_BYTES = 64 * 2 ** 20;
/** Bodies read at once; one more gets 503 and a Retry-After. */
export const MAX_CONCURRENT_BODIES = 4;

/** An answer other than 2xx, sent as `{error: {code, message}}` (plus `extra` fields) with `status`. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A request body checked against its shared schema; a bad one is a 400 that names the field. */
export function bodyOf<S extends z.ZodType>(schema: S, req: FastifyRequest): z.infer<S> {
  const r = checkWith(schema, req.body);
  if (!r.ok) throw new HttpError(400, 'bad_request', r.message);
  return r.value;
}

export interface HttpServerOptions {
  token: string;
  tls?: { cert: string | Buffer; key: string | Buffer };
  log?: (line: string) => void;
}

const hasBody = (req: FastifyRequest) =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/** A fastify instance with the shared plumbing; routes are registered on it before it listens. */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  // No logger (the server logs its own lines); the body cap; open connections closed when it closes.
  const base = { logger: false, bodyLimit: MAX_BODY_BYTES, forceCloseConnections: true } as const;
  const app = (opts.tls
    ? Fastify({ ...base, https: { cert: opts.tls.cert, key: opts.tls.key } })
    : Fastify(base)) as unknown as FastifyInstance;
  let reading = 0;

  // Any content type is read as a JSON object (clients have always sent JSON, some without saying so).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => {
    try {
      done(
        null,
        parseJsonObject(body as string, (message) => new HttpError(400, 'bad_request', message)),
      );
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/v1/')) return;
    const problem = bearerProblem(req.headers.authorization, opts.token);
    if (problem) return reply.code(401).send({ error: { code: 'unauthorized', message: problem } });
  });

  // Bodies being read at once: counted from here until the payload has been read (or the request went away).
  app.addHook('preParsing', async (req, reply, payload) => {
    if (!hasBody(req)) return payload;
    if (reading >= MAX_CONCURRENT_BODIES) {
      req.raw.resume();
      throw busy(MAX_CONCURRENT_BODIES);
    }
    reading++;
    let done = false;
    const release = () => {
      if (!done) reading--;
      done = true;
    };
    payload.once('end', release);
    payload.once('error', release);
    payload.once('close', release);
    req.raw.once('close', release);
    reply.raw.once('close', release);
    return payload;
  });

  app.setErrorHandler(
    (err: Error & { code?: string; statusCode?: number }, req: FastifyRequest, reply: FastifyReply) => {
      let e: HttpError;
      if (err instanceof HttpError) e = err;
      else if (err instanceof BodyLimitError) e = new HttpError(err.status, err.code, err.message);
      else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const declared = Number(req.headers['content-length']);
        const limit = tooLarge(
          MAX_BODY_BYTES,
          Number.isFinite(declared) && declared > MAX_BODY_BYTES ? declared : undefined,
        );
        e = new HttpError(413, limit.code, limit.message);
      } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
        e = new HttpError(err.statusCode, 'bad_request', err.message);
      else {
        opts.log?.(`HTTP ${req.method} ${req.url}: ${err.message}`);
        e = new HttpError(500, 'internal', err.message);
      }
      void reply
        .code(e.status)
        .headers(bodyLimitHeaders(e.status))
        .send({ error: { code: e.code, message: e.message, ...e.extra } });
    },
  );

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } });
  });
  return app;
}
