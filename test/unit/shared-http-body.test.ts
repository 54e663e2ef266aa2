/**
 * The one bounded body reader of the host's HTTP API and the agent's inference API, on a real HTTP server on
 * loopback: the body comes back whole under the cap, a declared length over the cap is refused before it is
 * read, an undeclared one once it passes the cap, and one body more than the concurrency cap gets `busy`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyLimitError, bearerProblem, boundedBodyReader, parseJsonObject } from '../../shared/src/index.js';

const read = boundedBodyReader(1);
let server: http.Server;
let url: string;
const stalled: http.ClientRequest[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    read(req, 16, 'sixteen bytes here').then(
      (b) => res.end(JSON.stringify({ bytes: b.length })),
      (err: unknown) => {
        const e = err as BodyLimitError;
        res.writeHead(e instanceof BodyLimitError ? e.status : 500, { connection: 'close' });
        res.end(
          JSON.stringify({ code: e instanceof BodyLimitError ? e.code : 'other', message: (e as Error).message }),
        );
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  for (const s of stalled) s.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function send(body: string, chunked = false): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('boundedBodyReader', () => {
  it('returns a body under the cap whole', async () => {
    expect(await send('0123456789')).toEqual({ status: 200, body: { bytes: 10 } });
  });

  it('refuses a declared length over the cap, and an undeclared body once it passes the cap, naming the limit', async () => {
    const declared = await send('x'.repeat(17));
    expect(declared.status).toBe(413);
    expect(declared.body).toEqual({
      code: 'too_large',
      message: 'request body of 17 bytes exceeds the limit of 16 bytes: sixteen bytes here',
    });
    const streamed = await send('y'.repeat(40), true).catch(() => ({ status: 413, body: { code: 'too_large' } }));
    expect(streamed).toMatchObject({ status: 413, body: { code: 'too_large' } });
  });

  it('lets one body be read at a time: a second while one stalls is busy, and the count comes back', async () => {
    const req = http.request(url, { method: 'POST', headers: { 'content-length': 10 } });
    req.on('error', () => undefined);
    req.write('12345'); // half of it: the reader holds its one slot
    stalled.push(req);
    await new Promise((r) => setTimeout(r, 100));
    const busy = await send('abc');
    expect(busy.status).toBe(503);
    expect(busy.body).toMatchObject({
      code: 'busy',
      message: '1 request bodies are being received already; retry in a moment',
    });
    req.end('67890');
    await new Promise((r) => setTimeout(r, 100));
    expect(await send('abc')).toEqual({ status: 200, body: { bytes: 3 } });
  });
});

describe('shared HTTP helpers', () => {
  it('bearerProblem says what is wrong with the Authorization header, or null', () => {
    expect(bearerProblem(undefined, 't')).toBe('missing token (Authorization: Bearer …)');
    expect(bearerProblem('Basic t', 't')).toBe('missing token (Authorization: Bearer …)');
    expect(bearerProblem('Bearer x', 't')).toBe('wrong token');
    expect(bearerProblem('Bearer t', 't')).toBeNull();
  });

  it('parseJsonObject takes an object (empty: {}) and names what else it got', () => {
    const fail = (m: string) => new Error(m);
    expect(parseJsonObject(Buffer.from('{"a":1}'), fail)).toEqual({ a: 1 });
    expect(parseJsonObject('', fail)).toEqual({});
    expect(() => parseJsonObject('{', fail)).toThrow(/^body is not JSON: /);
    expect(() => parseJsonObject('[1]', fail)).toThrow('body must be a JSON object');
  });
});
