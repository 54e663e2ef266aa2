/**
 * The browser agent on the fleet server's port:
 *   GET /agent                 the page, cross-origin isolated (COOP/COEP): WASM threads and memory figures
 *   GET /agent/no-isolation    the same page without COOP/COEP (one WASM thread, no memory figures), for
 *                              pages embedded where isolation breaks them, and to test the fallback
 *   GET /agent/page.js, /agent/worker.js   its script and measurement worker (agent/dist/browser/)
 *   GET /agent/ort/<file>      onnxruntime-web's own .mjs/.wasm files, from node_modules
 *   GET /v1/agent-link         (bearer) the page's URL with the token and a QR code of it, for the dashboard
 * The page then dials the same port's WebSocket like any agent. The token is never in these URLs' paths or
 * queries: the page reads it from the fragment.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { renderSVG, renderUnicodeCompact } from 'uqr';
import { agentPageHtml } from './page.js';

const require = createRequire(import.meta.url);
const ORT_DIR = path.dirname(require.resolve('onnxruntime-web'));
const ORT_VERSION = (require(path.join(ORT_DIR, '..', 'package.json')) as { version: string }).version;
/** The agent package's root: its entry may resolve to dist/ or (under tsx, through tsconfig paths) src/. */
function packageRoot(entry: string): string {
  let dir = path.dirname(entry);
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
const BUNDLE_DIR = path.join(packageRoot(require.resolve('@s4op/agent')), 'dist', 'browser');
/** onnxruntime-web's files the page may fetch; nothing else of node_modules is reachable. */
const ORT_FILE = /^ort[a-z0-9.-]*\.(mjs|wasm)$/;

const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

export const AGENT_PAGE_PATH = '/agent';

/** The browser agent's URL on this server, the token in the fragment. */
export function agentPageUrl(serverUrl: string, token: string): string {
  return `${serverUrl.replace(/^ws/, 'http')}${AGENT_PAGE_PATH}#token=${encodeURIComponent(token)}`;
}

/** A QR code of `text` for a terminal (two rows per line). */
export function terminalQr(text: string): string {
  return renderUnicodeCompact(text, { border: 1 });
}

export interface AgentPageOptions {
  /** The fleet's ws(s):// URL once it listens, and its token (for /v1/agent-link only). */
  link: () => { url: string; token: string };
}

export function agentPageRoutes(app: FastifyInstance, opts: AgentPageOptions): void {
  const html = agentPageHtml(ORT_VERSION);
  const page = (isolated: boolean) => async (_req: unknown, reply: FastifyReply) => {
    reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store');
    if (isolated) reply.headers(ISOLATION);
    return reply.send(html);
  };
  app.get(AGENT_PAGE_PATH, page(true));
  app.get(`${AGENT_PAGE_PATH}/no-isolation`, page(false));
  for (const name of ['page.js', 'worker.js']) {
    app.get(`${AGENT_PAGE_PATH}/${name}`, async (_req, reply) => {
      let body: Buffer;
      try {
        body = await readFile(path.join(BUNDLE_DIR, name));
      } catch {
        return reply
          .code(500)
          .send({ error: `the browser agent is not built (${name} missing in ${BUNDLE_DIR}): run npm run build` });
      }
      return reply
        .headers(ISOLATION)
        .header('content-type', 'text/javascript; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(body);
    });
  }
  app.get<{ Params: { file: string } }>(`${AGENT_PAGE_PATH}/ort/:file`, async (req, reply) => {
    const file = req.params.file;
    if (!ORT_FILE.test(file)) return reply.code(404).send({ error: `no onnxruntime-web file "${file.slice(0, 80)}"` });
    let body: Buffer;
    try {
      body = await readFile(path.join(ORT_DIR, file));
    } catch {
      return reply.code(404).send({ error: `no onnxruntime-web file "${file}"` });
    }
    return reply
      .headers(ISOLATION)
      .header('content-type', file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .send(body);
  });
  app.get('/v1/agent-link', async () => {
    const { url, token } = opts.link();
    const agentUrl = agentPageUrl(url, token);
    return { url: agentUrl, qr_svg: renderSVG(agentUrl, { border: 2 }) };
  });
}
