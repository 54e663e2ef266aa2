/**
 * Request bodies of the host's HTTP API, bounded: a size cap checked against Content-Length before any
 * byte is read and again while reading, and a cap on bodies being read at once, so a burst of large
 * uploads cannot grow the server without bound. Requests over either cap get a clear error (413, 503).
 */
import type http from 'node:http';

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

let reading = 0;

/** The body's bytes; throws BodyError when it is too large or too many bodies are in flight. */
export async function readBounded(req: http.IncomingMessage, max = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    throw new BodyError(413, 'too_large', `request body of ${declared} bytes exceeds the limit of ${max} bytes`);
  }
  if (reading >= MAX_CONCURRENT_BODIES) {
    req.resume();
    throw new BodyError(503, 'busy', `${MAX_CONCURRENT_BODIES} request bodies are being received already; retry in a moment`);
  }
  reading++;
  try {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > max) {
        req.destroy();
        throw new BodyError(413, 'too_large', `request body exceeds the limit of ${max} bytes`);
      }
      parts.push(chunk as Buffer);
    }
    return Buffer.concat(parts);
  } finally {
    reading--;
  }
}

/** Sends a BodyError as JSON (with Retry-After when busy). */
export function sendBodyError(res: http.ServerResponse, err: BodyError): void {
  res.writeHead(err.status, { 'content-type': 'application/json', ...(err.status === 503 ? { 'retry-after': '2' } : {}), ...(err.status === 413 ? { connection: 'close' } : {}) });
  res.end(JSON.stringify({ error: { code: err.code, message: err.message } }));
}
