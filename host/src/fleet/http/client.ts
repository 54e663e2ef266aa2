/**
 * The one client of the host's HTTP API (`s4op serve`'s port), for every command and for prune: where the
 * server is, the token, one method per endpoint, each response parsed with the shared schema, and errors that
 * say what went wrong (ServerCallError: the server's code and message, or unreachable / bad_reply).
 */
import {
  AgentsResponse,
  DeploymentResponse,
  DeploymentsResponse,
  ErrorResponse,
  FleetResponse,
  ForgetResponse,
  MeasureResponse,
  describeIssues,
  type DeployRequest,
  type MeasureRequest,
} from '@s4op/shared';
import type { z } from 'zod';
import type { LabRecord } from '../deploy/store.js';
import type { DeploymentView, FleetAgentView } from '../deploy/view.js';
import type { JobOutcome } from '../link/jobs.js';

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

/** The server's URL (http(s):// or the ws(s):// agents dial; default S4OP_SERVER, then DEFAULT_SERVER) and its token (default S4OP_TOKEN). */
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

/** One call: `body` as JSON, the answer parsed with `schema`; anything but a 2xx is a ServerCallError. */
export async function callServer<S extends z.ZodType>(
  ref: ServerRef,
  method: 'GET' | 'POST' | 'DELETE',
  route: string,
  schema: S,
  body?: unknown,
): Promise<z.infer<S>> {
  const res = await fetch(new URL(route, ref.base), {
    method,
    headers: {
      authorization: `Bearer ${ref.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((err: Error) => {
    throw new ServerCallError(
      'unreachable',
      `cannot reach s4op serve at ${ref.base.origin}: ${err.cause instanceof Error ? err.cause.message : err.message}`,
      0,
    );
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ServerCallError(
      'bad_reply',
      `${ref.base.origin}${route} answered HTTP ${res.status} with something that is not JSON`,
      res.status,
    );
  }
  if (!res.ok) {
    const e = ErrorResponse.safeParse(json);
    throw new ServerCallError(
      e.success ? e.data.error.code : String(res.status),
      e.success ? e.data.error.message : res.statusText,
      res.status,
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new ServerCallError(
      'bad_reply',
      `${ref.base.origin}${route} answered with an unexpected shape: ${describeIssues(parsed.error)}`,
      res.status,
    );
  return parsed.data;
}

/**
 * The endpoints. Each answer is checked by its shared schema (the fields a client relies on) and typed as the
 * host's own view of it (deployments and fleet rows carry more fields than the schemas pin down).
 */
export const hostApi = {
  agents: (ref: ServerRef): Promise<AgentsResponse> => callServer(ref, 'GET', '/v1/agents', AgentsResponse),
  measure: (ref: ServerRef, body: MeasureRequest): Promise<JobOutcome> =>
    callServer(ref, 'POST', '/v1/measure', MeasureResponse, body),
  deploy: (ref: ServerRef, body: Omit<z.input<typeof DeployRequest>, 'lab'> & { lab?: LabRecord | null }) =>
    asView(callServer(ref, 'POST', '/v1/deployments', DeploymentResponse, body)),
  deployments: async (ref: ServerRef): Promise<DeploymentView[]> =>
    (await callServer(ref, 'GET', '/v1/deployments', DeploymentsResponse)).deployments as unknown as DeploymentView[],
  deployment: (ref: ServerRef, id: string) =>
    asView(callServer(ref, 'GET', `/v1/deployments/${encodeURIComponent(id)}`, DeploymentResponse)),
  rollback: (ref: ServerRef, id: string) =>
    asView(callServer(ref, 'POST', `/v1/deployments/${encodeURIComponent(id)}/rollback`, DeploymentResponse)),
  fleet: async (
    ref: ServerRef,
    offset: number,
    limit: number,
  ): Promise<Partial<FleetPage> & { agents: FleetAgentView[] }> =>
    (await callServer(
      ref,
      'GET',
      `/v1/fleet?offset=${offset}&limit=${limit}`,
      FleetResponse,
    )) as unknown as Partial<FleetPage> & { agents: FleetAgentView[] },
  forget: (ref: ServerRef, id: string): Promise<ForgetResponse> =>
    callServer(ref, 'DELETE', `/v1/fleet/agents/${encodeURIComponent(id)}`, ForgetResponse),
};

/** One page of `GET /v1/fleet`. */
export interface FleetPage {
  agents: FleetAgentView[];
  total: number;
  online: number;
  offset: number;
}

const asView = async (p: Promise<DeploymentResponse>): Promise<DeploymentView> =>
  (await p) as unknown as DeploymentView;
