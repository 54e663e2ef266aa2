/**
 * The wire protocol between host and agent: one zod schema per message type, joined in a discriminated
 * union per direction. TypeScript types are derived from the schemas (z.infer), so what is validated at
 * the edge is exactly what the code handles. Model bytes travel separately as binary frames (framing.ts).
 */
import { z } from 'zod';
import { PROTOCOL_VERSION } from './version.js';

export { PROTOCOL_VERSION };

/** Largest JSON text frame either side accepts; larger ones get an error reply (binary frames have their own cap). */
export const MAX_TEXT_FRAME_BYTES = 256 * 1024;
/** Hard per-frame cap handed to the WebSocket library: a chunk frame plus headroom. Beyond it the socket closes (1009). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Close codes of the application range (4000–4999), each with a reason text for the peer. */
export const CloseCode = {
  protocolMismatch: 4000,
  unauthorized: 4001,
  handshakeTimeout: 4002,
  replaced: 4003,
  shutdown: 4004,
} as const;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 as 64 lowercase hex characters');
const Id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:@-]+$/, 'expected 1–128 characters of A–Z a–z 0–9 . _ : @ -');
const Label = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._-]+$/, 'expected 1–64 characters of A–Z a–z 0–9 . _ -');
/** A per-agent credential: 32 random bytes, base64url (43 characters). */
const AgentKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected an agent key of 43 base64url characters');
const Ms = z.number().finite().nonnegative();
const NullableNumber = z.number().finite().nullable();

/**
 * The runtimes this version knows (agent/src/runtimes/registry.ts implements them, in priority order). On the
 * wire a runtime's name is an open string: an agent with a runtime added later still talks to this host (which
 * lists it and never asks for it by name), and adding a runtime changes no schema and no protocol version.
 */
export const KNOWN_RUNTIMES = ['onnxruntime-node', 'onnxruntime-web'] as const;
export type KnownRuntime = (typeof KNOWN_RUNTIMES)[number];
/** The known runtimes (an older name of KNOWN_RUNTIMES). */
export const RUNTIME_NAMES = KNOWN_RUNTIMES;
/** A runtime's name: one of KNOWN_RUNTIMES, or a newer one (lowercase letters, digits, '.', '_', '-'). */
export const RuntimeName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a runtime name of 1–64 characters of a–z 0–9 . _ -');
export type RuntimeName = KnownRuntime | (string & {});
export const isKnownRuntime = (name: string): name is KnownRuntime =>
  (KNOWN_RUNTIMES as readonly string[]).includes(name);

export const DeviceFacts = z.strictObject({
  hostname: z.string().max(256),
  cpu_model: z.string().max(256),
  cores: z.number().int().positive(),
  cpu_max_mhz: NullableNumber,
  cpu_current_mhz: NullableNumber,
  memory_total_mb: z.number().nonnegative(),
  os: z.string().max(256),
  arch: z.string().max(32),
  temperature_c: NullableNumber,
  /** Raspberry Pi (/proc/device-tree/model) or Jetson (/etc/nv_tegra_release), when present. */
  board_model: z.string().max(256).nullable(),
});
export type DeviceFacts = z.infer<typeof DeviceFacts>;

/**
 * How a browser agent's board_model begins ("browser: Chrome 140"): a node agent's comes from the device tree
 * and never does, so the registry (which keeps the device facts, not the hello) can tell a tab for good.
 */
export const BROWSER_BOARD_PREFIX = 'browser: ';
export const isBrowserDevice = (device: Pick<DeviceFacts, 'board_model'>): boolean =>
  device.board_model?.startsWith(BROWSER_BOARD_PREFIX) === true;

export const RuntimeInfo = z.strictObject({
  name: RuntimeName,
  version: z.string().max(64).nullable(),
  available: z.boolean(),
  /** Why it cannot be used here, when it cannot. */
  reason: z.string().max(1024).optional(),
});
export type RuntimeInfo = z.infer<typeof RuntimeInfo>;

/** How one job is measured. Every field has a default, so `{}` is a valid, sane setting. */
export const MeasureSettings = z.strictObject({
  /**
   * `auto` picks the agent's first available runtime by priority (onnxruntime-node where it loads, else
   * onnxruntime-web); a name asks for that runtime (an agent without it answers runtime_unavailable).
   */
  runtime: z.union([z.literal('auto'), RuntimeName]).default('auto'),
  /** Intra-op threads (onnxruntime-node) or WASM threads (onnxruntime-web); 1 gives the steadiest figures. */
  threads: z.number().int().min(1).max(256).default(1),
  graph_optimization: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
  /** CPU memory arena of onnxruntime-node (ignored by onnxruntime-web). */
  arena: z.boolean().default(true),
  /**
   * Whether idle intra-op threads spin (onnxruntime's session.intra_op.allow_spinning). Absent: onnxruntime's
   * default (spinning). `false` is 2–3× faster on a loaded machine with threads > 1 (scripts/bench/agent-spin.ts).
   */
  spin: z.boolean().optional(),
  warmup_ms: z.number().int().min(0).max(600_000).default(250),
  warmup_runs: z.number().int().min(0).max(1_000_000).default(10),
  min_duration_ms: z.number().int().min(0).max(3_600_000).default(1000),
  min_samples: z.number().int().min(1).max(1_000_000).default(64),
  /** Stops the timed runs early even when the minimum duration is not reached yet. */
  max_samples: z.number().int().min(1).max(10_000_000).default(100_000),
  /** Values for named dynamic dimensions (e.g. {"batch": 4}); others get `default_dim`. */
  dims: z
    .record(
      z.string().min(1).max(128),
      z
        .number()
        .int()
        .min(1)
        .max(1 << 20),
    )
    .default({}),
  default_dim: z
    .number()
    .int()
    .min(1)
    .max(1 << 20)
    .default(1),
  /** Whole shapes for named inputs, checked against the declared rank and fixed dimensions. */
  shapes: z
    .record(
      z.string().min(1).max(256),
      z
        .array(
          z
            .number()
            .int()
            .min(0)
            .max(1 << 20),
        )
        .max(64),
    )
    .default({}),
  confidence: z.number().gt(0).lt(1).default(0.95),
  timeout_ms: z.number().int().min(100).max(86_400_000).default(120_000),
  /**
   * After the timed runs, one onnxruntime profiling pass per model: time per node type and per section of
   * our export (`ModelFigures.profile`). Absent: no profile (so settings recorded before it keep their key).
   */
  profile: z.boolean().optional(),
});
export type MeasureSettings = z.infer<typeof MeasureSettings>;
export type MeasureSettingsInput = z.input<typeof MeasureSettings>;
export const DEFAULT_SETTINGS: MeasureSettings = MeasureSettings.parse({});

export const ModelRef = z.strictObject({
  sha256: Sha256,
  size: z.number().int().nonnegative(),
  /** A name for people (file name); not used for identity. */
  name: z.string().max(256).optional(),
});
export type ModelRef = z.infer<typeof ModelRef>;

export const LatencyStats = z.strictObject({
  n: z.number().int().positive(),
  min: Ms,
  max: Ms,
  median: Ms,
  mean: Ms,
  p90: Ms,
  p99: Ms,
  std: Ms,
  cv: z.number().finite().nonnegative(),
  median_ci: z.strictObject({
    low: z.number().finite(),
    high: z.number().finite(),
    confidence: z.number().min(0).max(1),
  }),
});
export type LatencyStats = z.infer<typeof LatencyStats>;

export const ThrottleState = z.strictObject({
  source: z.enum(['vcgencmd', 'thermal_zone']),
  /** vcgencmd's hex word, or the zone/cooling-device readings. */
  raw: z.string().max(1024),
  /** Throttled, capped or under-voltage right now. */
  now: z.boolean(),
  /** Any of those happened since boot (vcgencmd's sticky bits; thermal zones cannot tell). */
  since_boot: z.boolean(),
  flags: z.array(z.string().max(64)).max(32),
});
export type ThrottleState = z.infer<typeof ThrottleState>;

export const ThermalSnapshot = z.strictObject({
  temperature_c: NullableNumber,
  cpu_mhz: NullableNumber,
  throttle: ThrottleState.nullable(),
});
export type ThermalSnapshot = z.infer<typeof ThermalSnapshot>;

export const InputFed = z.strictObject({
  name: z.string().max(256),
  dtype: z.string().max(32),
  declared_shape: z.array(z.union([z.number().int(), z.string().max(128)])).max(64),
  shape: z.array(z.number().int().nonnegative()).max(64),
});

/** Sections of an S4oP export (the node-name prefix before '/'); anything else counts as `other`. */
export const EXPORT_SECTIONS = ['ssm', 'mixing', 'norm', 'other'] as const;
const MsByName = z.record(z.string().max(128), Ms);

/** Where the time of one model goes: an onnxruntime profiling pass after the timed runs. */
export const ProfileFigures = z.strictObject({
  /** Profiled runs the figures are taken from (after a few unprofiled-in-the-figures warm-up runs). */
  runs: z.number().int().positive(),
  /** Median of the profiled runs (onnxruntime's model_run event), ms: the profiler itself slows small nodes down. */
  run_ms: Ms,
  /** Sum over nodes of each node's median kernel time per run, ms; by_op_type (and by_section) add up to it. */
  kernel_ms: Ms,
  /** Kernel ms per run by node type (MatMul, Mul, …). */
  by_op_type: MsByName,
  /** Kernel ms per run by section (EXPORT_SECTIONS); null for a model that is not an S4oP export. */
  by_section: MsByName.nullable(),
  /**
   * Declared work of each section ÷ its time, where its time is its share of kernel_ms applied to the job's
   * un-profiled median (the profiler's overhead would understate the rate of small nodes); null when the
   * model declares no work per section.
   */
  gflops_by_section: z.record(z.string().max(128), z.number().finite().nonnegative()).nullable(),
});
export type ProfileFigures = z.infer<typeof ProfileFigures>;

export const ModelFigures = z.strictObject({
  sha256: Sha256,
  size_bytes: z.number().int().nonnegative(),
  inputs: z.array(InputFed).max(256),
  load_ms: Ms,
  first_run_ms: Ms,
  latency_ms: LatencyStats,
  /** S4oP exports only (metadata `declared_flops`): the declared work of one run, i.e. per batch element × the batch fed. */
  declared_flops: z.number().finite().nonnegative().optional(),
  /** declared_flops ÷ median latency, in GFLOP/s. */
  achieved_gflops: z.number().finite().nonnegative().optional(),
  /** achieved_gflops ÷ the device's measured MatMul peak for this runtime and thread count (`device_peak`); null without a peak. */
  peak_fraction: z.number().finite().nonnegative().nullable().optional(),
  /** With settings.profile: the profile, or null when the runtime cannot profile (see profile_error). */
  profile: ProfileFigures.nullable().optional(),
  /** Why `profile` is null. */
  profile_error: z.string().max(1024).optional(),
});
export type ModelFigures = z.infer<typeof ModelFigures>;

/** The agent's view of other processes' CPU use during the job (Linux /proc/stat). */
export const BackgroundLoad = z.strictObject({
  /** CPU time of all other processes over the job ÷ the machine's whole CPU time (0 … 1). */
  other_cpu_fraction: z.number().finite().min(0).max(1),
  /** The same in cores' worth (0 … cores). */
  other_cpu_cores: z.number().finite().nonnegative(),
  cores: z.number().int().positive(),
  /** The 1-minute load average at the end of the job (it counts the measurement itself). */
  loadavg_1m: NullableNumber,
  /** other_cpu_fraction exceeded busy_threshold: the figures were taken on a busy machine. */
  busy: z.boolean(),
  busy_threshold: z.number().min(0).max(1),
});
export type BackgroundLoad = z.infer<typeof BackgroundLoad>;

/** The device's own limit for one runtime and thread count, measured once by the agent and cached on its disk. */
export const DevicePeak = z.strictObject({
  runtime: RuntimeName,
  runtime_version: z.string().max(64),
  threads: z.number().int().min(1).max(256),
  /** Best MatMul throughput over the square sizes tried, GFLOP/s. */
  matmul_gflops: z.number().finite().positive(),
  /** GFLOP/s per square size ("256", "512", "1024"). */
  matmul_by_size: z.record(z.string().max(16), z.number().finite().nonnegative()),
  /** Bytes read + written per second by a large elementwise Mul and a sum over its result, GB/s. */
  bandwidth_gbs: z.number().finite().nonnegative(),
  measured_at: z.string().max(64),
  /** Other processes' CPU use while the peak was measured: a peak measured busy is measured again later (the best is kept). */
  background_load: BackgroundLoad.nullable().optional(),
});
export type DevicePeak = z.infer<typeof DevicePeak>;

/** What a browser tab can tell about the conditions of a job (a node agent sends none of this). */
export const BrowserConditions = z.strictObject({
  /** The tab was hidden at some point of the job: the browser may have throttled it, so the figures are suspect. */
  hidden: z.boolean(),
  /** Served with COOP/COEP: WASM threads and measureUserAgentSpecificMemory are possible only then. */
  cross_origin_isolated: z.boolean(),
  /** The page's memory (all its workers) by performance.measureUserAgentSpecificMemory, or null with the reason. */
  memory: z
    .strictObject({
      before_load_mb: Ms,
      after_runs_mb: Ms,
    })
    .nullable(),
  memory_unavailable: z.string().max(512).optional(),
  user_agent: z.string().max(512),
});
export type BrowserConditions = z.infer<typeof BrowserConditions>;

export const Measurement = z.strictObject({
  runtime: z.strictObject({
    name: RuntimeName,
    version: z.string().max(64),
    settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  }),
  settings: MeasureSettings,
  mode: z.enum(['single', 'ab']),
  /** One entry, or two in A/B mode (A first). */
  models: z.array(ModelFigures).min(1).max(2),
  /** A/B only: per-pair ratio latency(B) / latency(A) of interleaved runs. */
  ratio: LatencyStats.nullable(),
  warmup: z.strictObject({ runs: z.number().int().nonnegative(), ms: Ms }),
  /** Null where the agent cannot read the process's memory (a browser tab: see `browser.memory`). */
  memory_mb: z
    .strictObject({
      baseline_rss: Ms,
      after_load_rss: Ms,
      after_first_run_rss: Ms,
      peak_rss: Ms,
      load_added: z.number().finite(),
      first_run_added: z.number().finite(),
    })
    .nullable(),
  thermal: z.strictObject({
    before: ThermalSnapshot,
    after: ThermalSnapshot,
    /** Throttled (or capped, or under-voltage) before, after, or newly since the start. */
    throttled: z.boolean(),
  }),
  started_at: z.string().max(64),
  duration_ms: Ms,
  /** Other processes' CPU use during the job; null where /proc/stat cannot be read. */
  background_load: BackgroundLoad.nullable().optional(),
  /** The peak that models' `peak_fraction` refers to (S4oP exports only); null when it could not be measured. */
  device_peak: DevicePeak.nullable().optional(),
  /** Browser agents only: how the tab ran the job. */
  browser: BrowserConditions.optional(),
});
export type Measurement = z.infer<typeof Measurement>;

/**
 * Optional Measurement fields added since protocol 1 first shipped. A host from before them refuses a result
 * that carries them (`error bad_field` naming e.g. `measurement.background_load`); the agent then sends its
 * results without them for the rest of that connection (see PROTOCOL.md).
 */
export const MEASUREMENT_EXTENSIONS = ['background_load', 'device_peak', 'browser'] as const;
export const MODEL_FIGURES_EXTENSIONS = [
  'declared_flops',
  'achieved_gflops',
  'peak_fraction',
  'profile',
  'profile_error',
] as const;

/** Whether a refused field (the dotted path of an error reply) is one of the extensions. */
export function isMeasurementExtension(field: string): boolean {
  const m = /^measurement\.(?:models\.\d+\.)?([a-z_]+)$/.exec(field);
  if (!m) return false;
  return field.includes('.models.')
    ? (MODEL_FIGURES_EXTENSIONS as readonly string[]).includes(m[1]!)
    : (MEASUREMENT_EXTENSIONS as readonly string[]).includes(m[1]!);
}

/** The measurement as a host from before the extensions accepts it. */
export function withoutExtensions(m: Measurement): Measurement {
  const out: Record<string, unknown> = { ...m };
  for (const k of MEASUREMENT_EXTENSIONS) delete out[k];
  out.models = m.models.map((f) => {
    const g: Record<string, unknown> = { ...f };
    for (const k of MODEL_FIGURES_EXTENSIONS) delete g[k];
    return g;
  });
  const settings: Record<string, unknown> = { ...m.settings };
  delete settings.profile;
  out.settings = settings;
  return out as Measurement;
}

export const JOB_ERROR_CODES = [
  'bad_model', // not ONNX, or the runtime refused to load it
  'unsynthesisable_input', // an input whose dtype or shape cannot be fed
  'run_failed', // the runtime threw during a run
  'runtime_crashed', // the measurement process died
  'runtime_unavailable',
  'hash_mismatch',
  'bad_transfer', // model chunks broke the framing rules
  'timeout',
  'cancelled',
  'agent_error',
] as const;
export const JobError = z.strictObject({ code: z.enum(JOB_ERROR_CODES), message: z.string().max(4096) });
export type JobError = z.infer<typeof JobError>;

/** One deployed model on an agent: its hash and the deployment that put it there. */
export const DeployedModel = z.strictObject({
  sha256: Sha256,
  deployment_id: Id.nullable(),
  activated_at: z.string().max(64),
});
export type DeployedModel = z.infer<typeof DeployedModel>;

/** What an agent serves now, and what a rollback would restore. */
export const ActiveModelState = z.strictObject({
  active: DeployedModel.nullable(),
  previous: DeployedModel.nullable(),
});
export type ActiveModelState = z.infer<typeof ActiveModelState>;

// ---- agent → host ----

export const Hello = z.strictObject({
  type: z.literal('hello'),
  protocol: z.number().int(),
  token: z.string().max(1024),
  agent_id: Id,
  name: Label,
  tags: z.array(Label).max(64),
  agent_version: z.string().max(64),
  runtimes: z.array(RuntimeInfo).max(8),
  device: DeviceFacts,
  /** The deployed model this agent serves (and the one before it): the host converges it to the desired state. */
  model_state: ActiveModelState.optional(),
  /**
   * The agent's own secret (made at its first start, kept in its cache folder): the host binds the agent id
   * to it at the first registration and refuses that id without it from then on. Absent from agents older
   * than per-agent keys (their ids are not protected).
   */
  agent_key: AgentKey.optional(),
  /** A browser tab (the page `s4op serve` serves at /agent) rather than `s4op-agent`: it measures but takes no deployment. */
  agent_kind: z.enum(['node', 'browser']).optional(),
});

export const JobStatus = z.strictObject({
  type: z.literal('job_status'),
  job_id: Id,
  state: z.enum(['queued', 'waiting_model', 'running']),
  /** Jobs ahead of this one on the agent. */
  position: z.number().int().nonnegative(),
});

export const NeedModel = z.strictObject({ type: z.literal('need_model'), sha256: Sha256 });
export const ModelStored = z.strictObject({ type: z.literal('model_stored'), sha256: Sha256 });

export const Result = z
  .strictObject({
    type: z.literal('result'),
    job_id: Id,
    measurement: Measurement.nullable(),
    error: JobError.nullable(),
  })
  .refine((r) => (r.measurement === null) !== (r.error === null), {
    message: 'exactly one of measurement and error must be set',
    path: ['measurement'],
  });

/** Reply to activate/rollback (and sent after every change): the agent's model state, or why the request failed. */
export const ModelStateMessage = z.strictObject({
  type: z.literal('model_state'),
  /** The request this answers (absent when the agent reports on its own). */
  deployment_id: Id.optional(),
  request: z.enum(['activate', 'rollback', 'report']),
  state: ActiveModelState,
  error: z
    .strictObject({ code: z.enum(['missing_model', 'load_failed', 'write_failed']), message: z.string().max(4096) })
    .nullable(),
});

// ---- host → agent ----

export const Welcome = z.strictObject({
  type: z.literal('welcome'),
  protocol: z.number().int(),
  host_version: z.string().max(64),
  heartbeat_ms: z.number().int().min(100).max(600_000),
});

export const Job = z
  .strictObject({
    type: z.literal('job'),
    job_id: Id,
    mode: z.enum(['single', 'ab']),
    models: z.array(ModelRef).min(1).max(2),
    settings: MeasureSettings,
  })
  .refine((j) => j.models.length === (j.mode === 'ab' ? 2 : 1), {
    message: 'mode "single" takes one model, mode "ab" two',
    path: ['models'],
  });

export const Cancel = z.strictObject({ type: z.literal('cancel'), job_id: Id });
/** Make a stored (and field-measured) model the one the agent serves; the current one becomes `previous`. */
export const Activate = z.strictObject({ type: z.literal('activate'), deployment_id: Id, model: ModelRef });
/** Restore `previous` if the active model came from this deployment (idempotent otherwise). */
export const Rollback = z.strictObject({ type: z.literal('rollback'), deployment_id: Id });
export const Ack = z.strictObject({ type: z.literal('ack'), job_id: Id });

// ---- both ways ----

export const ERROR_CODES = [
  'bad_json',
  'unknown_type',
  'bad_field',
  'frame_too_large',
  'bad_frame',
  'chunk_order',
  'size_mismatch',
  'hash_mismatch',
  'too_large',
  'unexpected',
  'unknown_job',
  'unknown_model',
  'unauthorized',
  'protocol_mismatch',
] as const;
export const ErrorMessage = z.strictObject({
  type: z.literal('error'),
  code: z.enum(ERROR_CODES),
  message: z.string().max(4096),
  /** The offending field as a dotted path, when one is to blame. */
  field: z.string().max(512).optional(),
  job_id: Id.optional(),
  sha256: Sha256.optional(),
});

export const AGENT_MESSAGE_SCHEMAS = {
  hello: Hello,
  job_status: JobStatus,
  need_model: NeedModel,
  model_stored: ModelStored,
  result: Result,
  model_state: ModelStateMessage,
  error: ErrorMessage,
} as const;
export const HOST_MESSAGE_SCHEMAS = {
  welcome: Welcome,
  job: Job,
  cancel: Cancel,
  ack: Ack,
  activate: Activate,
  rollback: Rollback,
  error: ErrorMessage,
} as const;

export type AgentMessage = {
  [K in keyof typeof AGENT_MESSAGE_SCHEMAS]: z.infer<(typeof AGENT_MESSAGE_SCHEMAS)[K]>;
}[keyof typeof AGENT_MESSAGE_SCHEMAS];
export type HostMessage = {
  [K in keyof typeof HOST_MESSAGE_SCHEMAS]: z.infer<(typeof HOST_MESSAGE_SCHEMAS)[K]>;
}[keyof typeof HOST_MESSAGE_SCHEMAS];
export type ErrorMessage = z.infer<typeof ErrorMessage>;
export type Hello = z.infer<typeof Hello>;
export type Welcome = z.infer<typeof Welcome>;
export type Job = z.infer<typeof Job>;
export type Result = z.infer<typeof Result>;
export type JobStatus = z.infer<typeof JobStatus>;
export type ModelStateMessage = z.infer<typeof ModelStateMessage>;
export type Activate = z.infer<typeof Activate>;
export type Rollback = z.infer<typeof Rollback>;

export type ParseOutcome<T> = { ok: true; message: T } | { ok: false; error: ErrorMessage };

function fail(code: ErrorMessage['code'], message: string, field?: string): { ok: false; error: ErrorMessage } {
  return { ok: false, error: { type: 'error', code, message: message.slice(0, 4096), ...(field ? { field } : {}) } };
}

function describeIssue(issue: z.core.$ZodIssue): { field: string; message: string } {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0] ?? ''].join('.');
    return { field, message: `unknown field "${field}"` };
  }
  const field = path.join('.') || '(message)';
  return { field, message: `field "${field}": ${issue.message}` };
}

/** Validates one text frame against a direction's schemas; errors name the field at fault. */
function parseWith<S extends Record<string, z.ZodType>>(
  schemas: S,
  text: string,
): ParseOutcome<{ [K in keyof S]: z.infer<S[K]> }[keyof S]> {
  // TextEncoder, not Buffer: the browser agent validates with this same code.
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > MAX_TEXT_FRAME_BYTES)
    return fail('frame_too_large', `text frame of ${bytes} bytes exceeds the ${MAX_TEXT_FRAME_BYTES}-byte limit`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail('bad_json', `malformed JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return fail('bad_json', 'a message must be a JSON object');
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string')
    return fail('bad_field', 'field "type" must be a string naming the message type', 'type');
  if (!Object.prototype.hasOwnProperty.call(schemas, type)) {
    return fail(
      'unknown_type',
      `unknown message type "${type.slice(0, 64)}" (expected one of ${Object.keys(schemas).join(', ')})`,
      'type',
    );
  }
  const parsed = schemas[type]!.safeParse(raw);
  if (!parsed.success) {
    const { field, message } = describeIssue(parsed.error.issues[0]!);
    return fail('bad_field', `${type}: ${message}`, field);
  }
  return { ok: true, message: parsed.data as { [K in keyof S]: z.infer<S[K]> }[keyof S] };
}

export function parseAgentMessage(text: string): ParseOutcome<AgentMessage> {
  return parseWith(AGENT_MESSAGE_SCHEMAS, text);
}

export function parseHostMessage(text: string): ParseOutcome<HostMessage> {
  return parseWith(HOST_MESSAGE_SCHEMAS, text);
}

/** Serialises a message, validating it first, so a bug on the sending side shows up where it is made. */
export function encodeMessage(message: AgentMessage | HostMessage): string {
  const schemas: Record<string, z.ZodType> = { ...AGENT_MESSAGE_SCHEMAS, ...HOST_MESSAGE_SCHEMAS };
  const schema = schemas[message.type];
  if (!schema) throw new Error(`cannot send unknown message type "${String(message.type)}"`);
  const checked = schema.safeParse(message);
  if (!checked.success) {
    const { message: why } = describeIssue(checked.error.issues[0]!);
    throw new Error(`refusing to send an invalid ${message.type} message: ${why}`);
  }
  return JSON.stringify(message);
}

/** Settings with every default filled in, or an error naming the bad field. */
export function resolveSettings(input: unknown): MeasureSettings {
  const parsed = MeasureSettings.safeParse(input ?? {});
  if (!parsed.success) throw new Error(`measurement settings: ${describeIssue(parsed.error.issues[0]!).message}`);
  return parsed.data;
}
