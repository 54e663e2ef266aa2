/**
 * Request bodies read with bounds, for the host's HTTP API and the agent's inference API alike: a size cap
 * checked against Content-Length before any byte is read and again while reading, and a cap on bodies being
 * read at once, so a burst of large or stalled uploads cannot grow the process without bound.
 */
import type http from 'node:http';

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

/** A reader that lets at most `concurrency` bodies be read at once (its own count). */
export function boundedBodyReader(concurrency: number): BoundedBodyReader {
  let reading = 0;
  return async (req, max, why) => {
    const tail = why ? `: ${why}` : '';
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      req.resume();
      throw new BodyLimitError(413, 'too_large', `request body of ${declared} bytes exceeds the limit of ${max} bytes${tail}`);
    }
    if (reading >= concurrency) {
      req.resume();
      throw new BodyLimitError(503, 'busy', `${concurrency} request bodies are being received already; retry in a moment`);
    }
    reading++;
    try {
      const parts: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > max) {
          req.destroy();
          throw new BodyLimitError(413, 'too_large', `request body exceeds the limit of ${max} bytes${tail}`);
        }
        parts.push(chunk as Buffer);
      }
      return Buffer.concat(parts);
    } finally {
      reading--;
    }
  };
}
