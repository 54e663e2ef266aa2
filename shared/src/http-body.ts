/**
 * Request bodies read with bounds, for the host's HTTP API and the agent's inference API alike: a size cap
 * checked against Content-Length before any byte is read and again while reading, and a cap on bodies being
 * read at once, so a burst of large or stalled uploads cannot grow the process without bound.
 */
import type http from 'node:http';
import { constantTimeEqual } from './hash.js';

/** Why a body was refused: `too_large` (HTTP 413) or `busy` (HTTP 503, retry later). */
export class BodyLimitError extends Error {
  override name = 'BodyLimitError';
  constructor(
    readonly status: 413 | 503,
    readonly code: 'too_large' | 'busy',
    message: string,
  ) {
    super(message);
  }
}

export interface BoundedBodyReader {
  /**
   * The body's bytes, at most `max`; `why` ends the too-large message (what sets the limit). Throws
   * BodyLimitError (the request is drained or destroyed first).
   */
  (req: http.IncomingMessage, max: number, why?: string): Promise<Buffer>;
}

/** The refusal of a body whose declared (or read) size is over `max`; `why` ends the message. */
export function tooLarge(max: number, declared?: number, why?: string): BodyLimitError {
  const size = declared === undefined ? 'request body' : `request body of ${declared} bytes`;
  return new BodyLimitError(413, 'too_large', `${size} exceeds the limit of ${max} bytes${why ? `: ${why}` : ''}`);
}

/** The refusal of one body more than `concurrency` being read at once. */
export function busy(concurrency: number): BodyLimitError {
  return new BodyLimitError(503, 'busy', `${concurrency} request bodies are being received already; retry in a moment`);
}

/** Headers that go with an answer's status: Retry-After when busy (503), the connection closed after a 413 (its body is left unread). */
export function bodyLimitHeaders(status: number): Record<string, string> {
  return status === 503 ? { 'retry-after': '2' } : status === 413 ? { connection: 'close' } : {};
}

/** A reader that lets at most `concurrency` bodies be read at once (its own count). */
export function boundedBodyReader(concurrency: number): BoundedBodyReader {
  let reading = 0;
  return async (req, max, why) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      req.resume();
      throw tooLarge(max, declared, why);
    }
    if (reading >= concurrency) {
      req.resume();
      throw busy(concurrency);
    }
    reading++;
    try {
      const parts: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > max) {
          req.destroy();
          throw tooLarge(max, undefined, why);
        }
        parts.push(chunk as Buffer);
      }
      return Buffer.concat(parts);
    } finally {
      reading--;
    }
  };
}

/** Sends `body` as JSON with `status` (and any extra headers). */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A body's bytes as a JSON object (an empty body is `{}`); what is wrong goes to `fail`, whose error is thrown. */
export function parseJsonObject(body: Buffer | string, fail: (message: string) => Error): Record<string, unknown> {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  let v: unknown;
  try {
    v = text.length ? JSON.parse(text) : {};
  } catch (err) {
    throw fail(`body is not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('body must be a JSON object');
  return v as Record<string, unknown>;
}

/**
 * What is wrong with a request's `Authorization: Bearer <token>` header, or null when it carries `token`
 * (compared in constant time).
 */
export function bearerProblem(authorization: string | undefined, token: string): string | null {
  const auth = authorization ?? '';
  const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  if (!given) return 'missing token (Authorization: Bearer …)';
  return constantTimeEqual(given, token) ? null : 'wrong token';
}
