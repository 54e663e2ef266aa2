/**
 * Request bodies of the host's HTTP API, bounded: a size cap checked against Content-Length before any
 * byte is read and again while reading, and a cap on bodies being read at once, so a burst of large
 * uploads cannot grow the server without bound. Requests over either cap get a clear error (413, 503).
 */
import type http from 'node:http';
import { BodyLimitError, boundedBodyReader } from '@s4op/shared';

/** Largest body the API takes: a base64 model of 48 MiB (S4/S4D exports for boards are far smaller). */
export const MAX_BODY_BYTES = 64 * 2 ** 20;
/** Bodies read at once; one more gets 503 and a Retry-After. */
export const MAX_CONCURRENT_BODIES = 4;

export class BodyError extends Error {
  override name = 'BodyError';
  constructor(
    readonly status: 400 | 413 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const read = boundedBodyReader(MAX_CONCURRENT_BODIES);

/** The body's bytes; throws BodyError when it is too large or too many bodies are in flight. */
export async function readBounded(req: http.IncomingMessage, max = MAX_BODY_BYTES): Promise<Buffer> {
  try {
    return await read(req, max);
  } catch (err) {
    if (err instanceof BodyLimitError) throw new BodyError(err.status, err.code, err.message);
    throw err;
  }
}

/** Sends a BodyError as JSON (with Retry-After when busy). */
export function sendBodyError(res: http.ServerResponse, err: BodyError): void {
  res.writeHead(err.status, { 'content-type': 'application/json', ...(err.status === 503 ? { 'retry-after': '2' } : {}), ...(err.status === 413 ? { connection: 'close' } : {}) });
  res.end(JSON.stringify({ error: { code: err.code, message: err.message } }));
}
