/**
 * The host's HTTP API (`s4op serve`'s port), as zod schemas: one per request body and per response, the
 * types derived from them, the way `protocol.ts` describes the WebSocket messages. The server validates
 * every request body with these (a bad one is a 400 naming the field); the client (`s4op` commands, prune)
 * parses every response with them.
 *   GET    /v1/agents                    → AgentsResponse
 *   POST   /v1/measure                   MeasureRequest → MeasureResponse
 *   POST   /v1/deployments               DeployRequest → 201 DeploymentResponse
 *   GET    /v1/deployments               → DeploymentsResponse
 *   GET    /v1/deployments/:id           → DeploymentResponse
 *   POST   /v1/deployments/:id/rollback  → DeploymentResponse
 *   GET    /v1/fleet?offset&limit        → FleetResponse
 *   DELETE /v1/fleet/agents/:id          → ForgetResponse
 * Errors: ErrorResponse, with the status saying what kind (400 bad body, 401 token, 404, 409, 413, 503 …).
 * Response schemas check what a client relies on and let further fields through (a newer host may add some).
 */
import { z } from 'zod';
import { Measurement } from './protocol.js';

const text = (what = 'must be a string') => z.string({ error: what });
const finite = (what = 'must be a finite number') => z.number({ error: what });

// ---- errors --------------------------------------------------------------------------------------------

export const ErrorResponse = z.looseObject({
  error: z.looseObject({ code: z.string(), message: z.string(), job_id: z.string().optional() }),
});
export type ErrorResponse = z.infer<typeof ErrorResponse>;

// ---- agents and measurement jobs -----------------------------------------------------------------------

export const MeasureRequest = z.object(
  {
    agent: text().optional(),
    tag: text().optional(),
    /** Checked further by the server (characters, length): it names files and log lines. */
    job_id: text().optional(),
    settings: z.unknown().optional(),
    /** How long the job may wait for its agent to connect (null: the server's default). */
    wait_for_agent_ms: finite('must be a non-negative number of milliseconds')
      .min(0, { error: 'must be a non-negative number of milliseconds' })
      .nullish(),
    models: z
      .array(
        z.object(
          { name: text().optional(), base64: text('must be a base64 string') },
          { error: 'must be an object {name?, base64}' },
        ),
        { error: 'must list one model (two for A/B)' },
      )
      .min(1, { error: 'must list one model (two for A/B)' })
      .max(2, { error: 'must list one model (two for A/B)' }),
  },
  { error: 'body must be a JSON object' },
);
export type MeasureRequest = z.infer<typeof MeasureRequest>;

export const MeasureResponse = z.looseObject({
  job_id: z.string(),
  agent: z.looseObject({ id: z.string(), name: z.string() }),
  measurement: Measurement,
});
export type MeasureResponse = z.infer<typeof MeasureResponse>;

export const AgentsResponse = z.looseObject({
  agents: z.array(z.looseObject({ id: z.string(), name: z.string(), online: z.boolean(), tags: z.array(z.string()) })),
  jobs: z.array(z.looseObject({ job_id: z.string(), agent: z.string(), state: z.string() })),
});
export type AgentsResponse = z.infer<typeof AgentsResponse>;

// ---- deployments ---------------------------------------------------------------------------------------

/** The lab measurement a deployment was chosen by: its figures feed the gate, so their types are checked. */
export const LabRecordBody = z.looseObject(
  {
    agent: text(),
    runtime: text('must be a string or null').nullable().default(null),
    runtime_version: text('must be a string or null').nullable().default(null),
    threads: finite('must be a finite number or null').nullable().default(null),
    settings: z.record(z.string(), z.unknown(), { error: 'must be an object or null' }).nullable().default(null),
    export_mode: text('must be a string or null').nullable().default(null),
    export_variant: text('must be a string or null').nullable().default(null),
    p50_ms: finite('must be a finite number or null').nullable().default(null),
    p90_ms: finite('must be a finite number or null').nullable().default(null),
    p99_ms: finite('must be a finite number or null').nullable().default(null),
    mean_ms: finite('must be a finite number or null').nullable().default(null),
    rss_mb: finite('must be a finite number or null').nullable().default(null),
    measured_at: text('must be a string or null').nullable().default(null),
  },
  { error: 'must be an object or null' },
);
export type LabRecordBody = z.infer<typeof LabRecordBody>;

export const ModelSourceBody = z.object(
  {
    kind: z.enum(['candidate', 'file'], { error: 'must be "candidate" or "file"' }),
    candidate_id: z.int({ error: 'must be an integer' }).optional(),
    run_id: text().optional(),
    path: text().optional(),
  },
  { error: 'must be {kind: "candidate"|"file", candidate_id?, run_id?, path?}' },
);
export type ModelSourceBody = z.infer<typeof ModelSourceBody>;

export const DeployRequest = z.object(
  {
    model: z.object(
      {
        base64: text('must hold the ONNX bytes as base64'),
        name: text().optional(),
        source: ModelSourceBody.optional(),
      },
      { error: 'must be {base64, name?, source?} with the ONNX bytes as base64' },
    ),
    to: text('must be a target such as tag:pi4 or agent:NAME'),
    canary: text().optional(),
    /** Its range (1–100) is checked with the plan, which says so in --waves' words. */
    waves: finite('must be a number').optional(),
    gate: text().optional(),
    settings: z.unknown().optional(),
    lab: LabRecordBody.nullish(),
  },
  { error: 'body must be a JSON object' },
);
export type DeployRequest = z.infer<typeof DeployRequest>;

const Stage = z.looseObject({ name: z.string(), agents: z.array(z.string()) });

export const DeploymentResponse = z.looseObject({
  id: z.string(),
  status: z.string(),
  model_sha256: z.string(),
  model_name: z.string().nullable(),
  selector: z.string(),
  reason: z.string().nullable(),
  plan: z.array(Stage),
  agents: z.array(
    z.looseObject({
      agent_id: z.string(),
      agent_name: z.string(),
      stage: z.number(),
      state: z.string(),
      reason: z.string().nullable(),
    }),
  ),
  counts: z.record(z.string(), z.number()),
});
export type DeploymentResponse = z.infer<typeof DeploymentResponse>;

export const DeploymentsResponse = z.looseObject({ deployments: z.array(DeploymentResponse) });
export type DeploymentsResponse = z.infer<typeof DeploymentsResponse>;

export const FleetResponse = z.looseObject({
  agents: z.array(z.looseObject({ id: z.string(), name: z.string(), online: z.boolean(), health: z.string() })),
  /** Absent from servers before paging (they send every agent). */
  total: z.number().optional(),
  online: z.number().optional(),
  offset: z.number().optional(),
});
export type FleetResponse = z.infer<typeof FleetResponse>;

export const ForgetResponse = z.looseObject({ forgotten: z.string() });
export type ForgetResponse = z.infer<typeof ForgetResponse>;

// ---- messages ------------------------------------------------------------------------------------------

/** A validation failure in words that name the field: `field "lab.p50_ms" must be a finite number or null`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `field "${i.path.map(String).join('.')}" ${i.message}` : i.message))
    .join('; ');
}

/** `schema` applied to `value`: the typed value, or the message that names what is wrong. */
export function checkWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
): { ok: true; value: z.infer<S> } | { ok: false; message: string } {
  const r = schema.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, message: describeIssues(r.error) };
}
