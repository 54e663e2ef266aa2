/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The browser agent: the page `s4op serve` serves at /agent. It speaks the agent protocol over the browser's
 * WebSocket with the same schemas as `s4op-agent` (@s4op/shared validates both ways), says hello with what a
 * browser can tell about its device, fetches models as chunk frames, and runs each job in a fresh Worker
 * (worker.ts). The token comes from the URL fragment (#token=…), which the browser never sends to a server.
 * A tab that reloads keeps its agent id and key (localStorage), so the host re-sends it the jobs it owed.
 */
import {
  BROWSER_BOARD_PREFIX,
  CloseCode,
  Measurement as MeasurementSchema,
  PACKAGE_VERSION,
  PROTOCOL_VERSION,
  concatBytes,
  decodeChunk,
  encodeMessage,
  parseHostMessage,
  toHex,
  type AgentMessage,
  type DeviceFacts,
  type Hello,
  type HostMessage,
  type Job,
  type JobError,
  type Measurement,
  type Result,
  type RuntimeInfo,
} from '@s4op/shared';
import { BROWSER_WASM, BROWSER_WEBGPU, type WorkerReply, type WorkerRequest } from './messages.js';

const $ = (id: string): HTMLElement => document.getElementById(id)!;
const fragment = new URLSearchParams(location.hash.slice(1));
const token = fragment.get('token') ?? '';
const ORT_BASE = new URL('/agent/ort/', location.href).href;
const WORKER_URL = new URL('/agent/worker.js', location.href).href;
const ortVersion = document.querySelector<HTMLMetaElement>('meta[name="ort-version"]')?.content ?? 'unknown';
const isolated = globalThis.crossOriginIsolated === true;

/** Visible state, mirrored into data-state so tests (and people) can read it. */
function show(state: string, detail = ''): void {
  $('state').textContent = state;
  $('state').dataset.state = state;
  $('detail').textContent = detail;
  document.title = `S4oP agent: ${state}`;
}
const setText = (id: string, t: string) => ($(id).textContent = t);

function randomKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...b))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** Kept per browser profile: a reloaded tab is the same agent, so the host hands it back the jobs it owed. */
function stored(key: string, make: () => string, valid: RegExp): string {
  const v = localStorage.getItem(key);
  if (v && valid.test(v)) return v;
  const fresh = make();
  localStorage.setItem(key, fresh);
  return fresh;
}
const agentId = stored('s4op-agent-id', () => `browser-${crypto.randomUUID()}`, /^[A-Za-z0-9._:@-]{1,128}$/);
const agentKey = stored('s4op-agent-key', randomKey, /^[A-Za-z0-9_-]{43}$/);
const LABEL = /^[A-Za-z0-9._-]{1,64}$/;
const name = fragment.get('name') ?? `browser-${agentId.slice(8, 16)}`;
const tags = [
  ...new Set([
    'browser',
    ...(fragment.get('tags') ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  ]),
];

interface UaData {
  brands?: { brand: string; version: string }[];
  platform?: string;
  getHighEntropyValues?(hints: string[]): Promise<Record<string, string | undefined>>;
}
interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}
type Gpu = {
  requestAdapter(): Promise<{ info?: GpuAdapterInfo; requestAdapterInfo?: () => Promise<GpuAdapterInfo> } | null>;
};

/** The WebGPU adapter, described, or why there is none. */
async function webgpuAdapter(): Promise<{ ok: true; info: string } | { ok: false; reason: string }> {
  const gpu = (navigator as unknown as { gpu?: Gpu }).gpu;
  if (!gpu) return { ok: false, reason: 'this browser has no WebGPU (navigator.gpu is absent)' };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { ok: false, reason: 'WebGPU is present but the browser offers no adapter' };
    const i = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
    const parts = [i.vendor, i.architecture, i.device, i.description].filter((x) => x);
    return { ok: true, info: parts.join(' ') || 'adapter without details' };
  } catch (err) {
    return { ok: false, reason: `WebGPU adapter request failed: ${(err as Error).message}` };
  }
}

async function deviceFacts(gpu: string | null): Promise<DeviceFacts> {
  const ua = (navigator as unknown as { userAgentData?: UaData }).userAgentData;
  let high: Record<string, string | undefined> = {};
  try {
    high = (await ua?.getHighEntropyValues?.(['architecture', 'platformVersion', 'model', 'fullVersionList'])) ?? {};
  } catch {
    // client hints refused: the user agent string still tells something
  }
  // GREASE brands ("Not:A-Brand") are there to be ignored; a named browser wins over the engine's name.
  const real = (ua?.brands ?? []).filter((b) => !/not.?a.?brand/i.test(b.brand));
  const brand = real.find((b) => b.brand !== 'Chromium') ?? real[0];
  const browser = brand ? `${brand.brand} ${brand.version}` : navigator.userAgent.slice(0, 120);
  // deviceMemory is rounded by the browser (and absent outside Chromium): 0 means not told, not no memory.
  const deviceMemory = (navigator as unknown as { deviceMemory?: number }).deviceMemory;
  return {
    hostname: location.hostname.slice(0, 256) || 'browser',
    cpu_model: `${browser} tab${gpu ? `; WebGPU ${gpu}` : ''}`.slice(0, 256),
    cores: Math.max(1, navigator.hardwareConcurrency || 1),
    cpu_max_mhz: null,
    cpu_current_mhz: null,
    memory_total_mb: deviceMemory ? deviceMemory * 1024 : 0,
    os: `${ua?.platform ?? navigator.platform ?? 'unknown'}${high.platformVersion ? ` ${high.platformVersion}` : ''}`.slice(
      0,
      256,
    ),
    arch: (high.architecture || 'unknown').slice(0, 32),
    temperature_c: null,
    board_model: `${BROWSER_BOARD_PREFIX}${browser}`.slice(0, 256),
  };
}

// ---- the link ----

let ws: WebSocket | null = null;
let welcomed = false;
let refused = false;
let attempt = 0;
let runtimes: RuntimeInfo[] = [];
let facts: DeviceFacts | null = null;
let gpuInfo: string | null = null;

function send(m: AgentMessage): boolean {
  if (!ws || ws.readyState !== WebSocket.OPEN || (!welcomed && m.type !== 'hello')) return false;
  ws.send(encodeMessage(m));
  return true;
}

function connect(): void {
  if (refused) return;
  const url = new URL('/', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const sock = new WebSocket(url.href);
  ws = sock;
  welcomed = false;
  sock.binaryType = 'arraybuffer';
  show('connecting', url.host);
  sock.onopen = () => {
    const hello: Hello = {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      token,
      agent_id: agentId,
      name,
      tags,
      agent_version: PACKAGE_VERSION,
      runtimes,
      device: facts!,
      agent_key: agentKey,
      agent_kind: 'browser',
    };
    sock.send(encodeMessage(hello));
  };
  sock.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
    if (typeof e.data !== 'string') {
      if (welcomed) void onChunk(new Uint8Array(e.data));
      return;
    }
    const parsed = parseHostMessage(e.data);
    if (!parsed.ok) {
      sock.send(JSON.stringify(parsed.error));
      return;
    }
    onMessage(parsed.message);
  };
  sock.onclose = (e) => {
    if (ws === sock) ws = null;
    welcomed = false;
    if (e.code === CloseCode.unauthorized || e.code === CloseCode.protocolMismatch) {
      refused = true;
      show('refused', `the host refused this agent (${e.code}): ${e.reason}`);
      return;
    }
    if (e.code === CloseCode.replaced) {
      // Another tab of this browser took over the same agent id: two tabs must not fight over it.
      refused = true;
      show('replaced', 'another tab of this browser connected as the same agent');
      return;
    }
    const wait = Math.min(15_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt = Math.min(attempt + 1, 30);
    show('disconnected', `${e.reason || `code ${e.code}`}; reconnecting in ${Math.round(wait)} ms`);
    setTimeout(connect, wait);
  };
}

// ---- jobs: one at a time, results kept until the host acknowledges them ----

interface Entry {
  job: Job;
  state: 'waiting_model' | 'queued' | 'running';
  worker?: Worker;
  finish?: (e: JobError) => void;
}
const entries = new Map<string, Entry>();
const unacked = new Map<string, Result>();
const models = new Map<string, Uint8Array>();
const transfers = new Map<string, { parts: Uint8Array[]; count: number }>();
const wanted = new Set<string>();
let running: string | null = null;
/** The tab was hidden while the current job ran (set by visibilitychange). */
let hiddenDuringJob = false;
document.addEventListener('visibilitychange', () => {
  if (document.hidden && running) hiddenDuringJob = true;
  setText('visibility', document.hidden ? 'hidden: measurements now are flagged' : 'visible');
});

function status(id: string): void {
  const e = entries.get(id);
  if (!e) return;
  const ahead = [...entries.values()].filter((x) => x.state === 'queued' && x !== e).length;
  send({ type: 'job_status', job_id: id, state: e.state, position: e.state === 'queued' ? ahead : 0 });
}

function onMessage(m: HostMessage): void {
  switch (m.type) {
    case 'welcome':
      welcomed = true;
      attempt = 0;
      show('connected', `as ${name} (${agentId})`);
      for (const r of unacked.values()) send(r);
      for (const sha of wanted) send({ type: 'need_model', sha256: sha });
      for (const id of entries.keys()) status(id);
      break;
    case 'job':
      submit(m);
      break;
    case 'cancel': {
      const e = entries.get(m.job_id);
      if (!e) send({ type: 'error', code: 'unknown_job', message: `no job "${m.job_id}" to cancel`, job_id: m.job_id });
      else if (e.finish) e.finish({ code: 'cancelled', message: 'the job was cancelled' });
      else finish(m.job_id, { measurement: null, error: { code: 'cancelled', message: 'cancelled before it ran' } });
      break;
    }
    case 'ack':
      unacked.delete(m.job_id);
      break;
    case 'activate':
    case 'rollback':
      // The host refuses deployments to browser agents before sending them; answer one anyway.
      send({
        type: 'model_state',
        deployment_id: m.deployment_id,
        request: m.type,
        state: { active: null, previous: null },
        error: { code: 'load_failed', message: 'a browser agent measures only; it takes no deployment' },
      });
      break;
    case 'error':
      setText('detail', `host reports ${m.code}: ${m.message}`);
      break;
  }
}

function submit(job: Job): void {
  const id = job.job_id;
  if (entries.has(id)) return status(id);
  const done = unacked.get(id);
  if (done) {
    send(done);
    return;
  }
  entries.set(id, { job, state: 'waiting_model' });
  checkModels(id);
}

function checkModels(id: string): void {
  const e = entries.get(id);
  if (!e || e.state !== 'waiting_model') return;
  let missing = false;
  for (const m of e.job.models) {
    if (models.has(m.sha256)) continue;
    missing = true;
    if (!wanted.has(m.sha256)) {
      wanted.add(m.sha256);
      send({ type: 'need_model', sha256: m.sha256 });
    }
  }
  if (!missing) e.state = 'queued';
  status(id);
  pump();
}

async function onChunk(frame: Uint8Array): Promise<void> {
  let sha = '';
  try {
    const chunk = decodeChunk(frame);
    sha = chunk.sha256;
    if (!wanted.has(sha)) {
      send({
        type: 'error',
        code: 'unknown_model',
        message: `model ${sha.slice(0, 12)}… was not asked for`,
        sha256: sha,
      });
      return;
    }
    let t = transfers.get(sha);
    if (!t) transfers.set(sha, (t = { parts: [], count: chunk.count }));
    if (chunk.index !== t.parts.length)
      throw new Error(`chunk ${chunk.index} of ${sha.slice(0, 12)}… arrived while ${t.parts.length} was expected`);
    t.parts.push(chunk.payload.slice());
    setText('progress', `receiving model ${sha.slice(0, 12)}…: chunk ${chunk.index + 1} of ${chunk.count}`);
    if (t.parts.length < t.count) return;
    transfers.delete(sha);
    const bytes = concatBytes(t.parts);
    // The same check as the node agent's assembler, with the browser's own sha256.
    const actual = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
    if (actual !== sha)
      throw new Error(`model bytes hash to ${actual.slice(0, 12)}…, not the announced ${sha.slice(0, 12)}…`);
    models.set(sha, bytes);
    wanted.delete(sha);
    send({ type: 'model_stored', sha256: sha });
    for (const id of entries.keys()) checkModels(id);
  } catch (err) {
    const message = (err as Error).message;
    for (const s of sha ? [sha] : [...wanted]) {
      transfers.delete(s);
      wanted.delete(s);
      for (const [id, e] of entries)
        if (e.state === 'waiting_model' && e.job.models.some((m) => m.sha256 === s))
          finish(id, { measurement: null, error: { code: 'bad_transfer', message } });
    }
  }
}

function finish(id: string, outcome: Pick<Result, 'measurement' | 'error'>): void {
  entries.delete(id);
  const r = { type: 'result', job_id: id, ...outcome } as Result;
  unacked.set(id, r);
  send(r);
  // Models no job in hand needs are dropped: a tab's memory is the device's too.
  const needed = new Set([...entries.values()].flatMap((e) => e.job.models.map((m) => m.sha256)));
  for (const sha of models.keys()) if (!needed.has(sha)) models.delete(sha);
}

function pump(): void {
  if (running) return;
  const next = [...entries.entries()].find(([, e]) => e.state === 'queued');
  if (!next) return;
  const [id, e] = next;
  running = id;
  e.state = 'running';
  status(id);
  void run(e).then((outcome) => {
    running = null;
    if (entries.has(id)) finish(id, outcome);
    pump();
  });
}

let memoryStuck: string | null = null;
type MemoryApi = { measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }> };

/** The page's memory, all its workers included; only in a cross-origin isolated page. */
async function pageMemory(): Promise<number | string> {
  const api = (performance as unknown as MemoryApi).measureUserAgentSpecificMemory;
  if (!isolated) return 'the page is not cross-origin isolated (served without COOP/COEP)';
  if (!api) return 'this browser has no performance.measureUserAgentSpecificMemory';
  if (memoryStuck) return memoryStuck;
  // Chromium answers at its next garbage collection, which can take seconds: wait a bounded time.
  const timeout = new Promise<string>((r) =>
    setTimeout(() => r('measureUserAgentSpecificMemory took over 5 s'), 5_000),
  );
  const got = await Promise.race([api.call(performance).then((m) => m.bytes), timeout]).catch(
    (err: Error) => err.message,
  );
  // Once it hung (seen after a job with WASM threads), it stays hung: do not make every job wait 5 s more.
  if (typeof got === 'string' && got.includes('took over')) memoryStuck = `${got} once in this tab; not tried again`;
  return got;
}

async function run(e: Entry): Promise<Pick<Result, 'measurement' | 'error'>> {
  const { job } = e;
  const fail = (error: JobError) => ({ measurement: null, error });
  const want = job.settings.runtime;
  const runtime = want === 'auto' ? BROWSER_WASM : want;
  if (runtime !== BROWSER_WASM && runtime !== BROWSER_WEBGPU)
    return fail({ code: 'runtime_unavailable', message: `runtime ${want} is not available in a browser agent` });
  const info = runtimes.find((r) => r.name === runtime);
  if (!info?.available)
    return fail({ code: 'runtime_unavailable', message: `runtime ${runtime} is not available here: ${info?.reason}` });

  hiddenDuringJob = document.hidden;
  setText('model', job.models.map((m) => `${m.name ?? 'model'} ${m.sha256.slice(0, 12)}…`).join(' vs '));
  setText('progress', 'starting');
  const before = await pageMemory();
  const worker = new Worker(WORKER_URL, { type: 'module' });
  e.worker = worker;
  const reply = await new Promise<WorkerReply | { kind: 'failed'; error: JobError }>((resolve) => {
    const timer = setTimeout(
      () =>
        resolve({
          kind: 'failed',
          error: { code: 'timeout', message: `measurement exceeded ${job.settings.timeout_ms} ms and was stopped` },
        }),
      job.settings.timeout_ms,
    );
    e.finish = (error) => resolve({ kind: 'failed', error });
    worker.onmessage = (m: MessageEvent<WorkerReply>) => {
      if (m.data.kind === 'progress') setText('progress', m.data.text);
      else {
        clearTimeout(timer);
        resolve(m.data);
      }
    };
    worker.onerror = (err) => {
      clearTimeout(timer);
      resolve({
        kind: 'failed',
        error: { code: 'runtime_crashed', message: `measurement worker failed: ${err.message}` },
      });
    };
    const request: WorkerRequest = {
      kind: 'measure',
      ortBase: ORT_BASE,
      runtime,
      models: job.models.map((m) => ({ sha256: m.sha256, bytes: models.get(m.sha256)! })),
      settings: job.settings,
      webgpuAdapter: gpuInfo,
    };
    worker.postMessage(request);
  });
  // Read while the worker still lives (its heap is what the job cost). onnxruntime-web's WASM thread pool
  // waits in Atomics.wait and never answers the measurement, so with threads there is no figure, said so.
  const after =
    reply.kind !== 'figures'
      ? null
      : reply.measurement.runtime.settings.wasm_threads === 1
        ? await pageMemory()
        : 'not measurable with WASM threads (the thread pool never answers the measurement); use threads 1';
  worker.terminate();
  if (reply.kind !== 'figures') {
    setText('progress', `failed: ${reply.kind === 'failed' ? reply.error.message : ''}`);
    return fail(reply.kind === 'failed' ? reply.error : { code: 'agent_error', message: 'unexpected worker reply' });
  }
  const MB = 2 ** 20;
  const memory =
    typeof before === 'number' && typeof after === 'number'
      ? { before_load_mb: before / MB, after_runs_mb: after / MB }
      : null;
  const why =
    typeof before === 'string'
      ? `before load: ${before}`
      : typeof after === 'string'
        ? `after the runs: ${after}`
        : undefined;
  const measurement: Measurement = {
    ...reply.measurement,
    browser: {
      hidden: hiddenDuringJob || document.hidden,
      cross_origin_isolated: isolated,
      memory,
      ...(why ? { memory_unavailable: why.slice(0, 512) } : {}),
      user_agent: navigator.userAgent.slice(0, 512),
    },
  };
  // The same schema the host validates with: a bug here shows in the tab, not as a refused result.
  const checked = MeasurementSchema.safeParse(measurement);
  if (!checked.success)
    return fail({ code: 'agent_error', message: `invalid figures: ${checked.error.message.slice(0, 1000)}` });
  const f = measurement.models[0]!.latency_ms;
  setText('progress', 'done');
  setText(
    'figures',
    `${measurement.runtime.name} ${measurement.runtime.settings.execution_provider} × ${measurement.runtime.settings.wasm_threads} thread(s): ` +
      `median ${f.median.toFixed(3)} ms [${f.median_ci.low.toFixed(3)}, ${f.median_ci.high.toFixed(3)}], p90 ${f.p90.toFixed(3)} ms, n=${f.n}` +
      (measurement.browser!.hidden ? ' (tab hidden: flagged)' : ''),
  );
  return { measurement, error: null };
}

async function start(): Promise<void> {
  setText(
    'isolation',
    isolated
      ? `cross-origin isolated: WASM threads up to ${navigator.hardwareConcurrency}`
      : 'not cross-origin isolated: WASM runs one thread, no memory figures',
  );
  setText('visibility', document.hidden ? 'hidden' : 'visible');
  if (!token) {
    show('no token', 'open this page with #token=… (the URL `s4op serve` prints)');
    return;
  }
  const bad = [name, ...tags].find((l) => !LABEL.test(l));
  if (bad !== undefined) {
    show('bad input', `name and tags must be 1–64 characters of A–Z a–z 0–9 . _ -; got "${bad.slice(0, 80)}"`);
    return;
  }
  // Out of the address bar and history: the token stays in this page's memory only.
  history.replaceState(null, '', location.pathname + location.search);
  const gpu = await webgpuAdapter();
  gpuInfo = gpu.ok ? gpu.info : null;
  runtimes = [
    { name: BROWSER_WASM, version: ortVersion, available: true },
    gpu.ok
      ? { name: BROWSER_WEBGPU, version: ortVersion, available: true }
      : { name: BROWSER_WEBGPU, version: null, available: false, reason: gpu.reason },
  ];
  facts = await deviceFacts(gpuInfo);
  setText(
    'facts',
    `${facts.cpu_model}; ${facts.cores} cores; ${facts.os} ${facts.arch}; WebGPU: ${gpu.ok ? gpu.info : gpu.reason}`,
  );
  connect();
}

void start();
