/** The commands' side of the server's HTTP API: where it is, the token, and errors that say what went wrong. */
export interface ServerRef {
  base: URL;
  token: string;
}

export class ServerCallError extends Error {
  override name = 'ServerCallError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export const DEFAULT_SERVER = 'http://127.0.0.1:7480';

export function serverRef(url: string | undefined, token: string | undefined): ServerRef {
  const raw = url ?? process.env.S4OP_SERVER ?? DEFAULT_SERVER;
  let base: URL;
  try {
    base = new URL(raw.replace(/^ws(s?):/, 'http$1:'));
  } catch {
    throw new ServerCallError('bad_server', `--server "${raw}" is not a URL (expected http://HOST:PORT)`, 0);
  }
  const t = token ?? process.env.S4OP_TOKEN;
  if (!t) throw new ServerCallError('no_token', 'the server needs its token: --token T or S4OP_TOKEN', 0);
  return { base, token: t };
}

export async function callServer<T>(ref: ServerRef, method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<T> {
  const res = await fetch(new URL(route, ref.base), {
    method,
    headers: { authorization: `Bearer ${ref.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((err: Error) => {
    throw new ServerCallError('unreachable', `cannot reach s4op serve at ${ref.base.origin}: ${err.cause instanceof Error ? err.cause.message : err.message}`, 0);
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ServerCallError('bad_reply', `${ref.base.origin}${route} answered HTTP ${res.status} with something that is not JSON`, res.status);
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } }).error;
    throw new ServerCallError(e?.code ?? String(res.status), e?.message ?? res.statusText, res.status);
  }
  return json as T;
}
