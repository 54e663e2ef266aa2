/**
 * The measurement process: one per job, forked by the agent, so memory figures start clean and a runtime
 * that crashes takes only this process down. It speaks to its parent over Node's IPC channel:
 *   parent → child  ChildRequest (probe a runtime, or measure models from files)
 *   child → parent  ChildReply   (probe answer, figures, or a failure with a job error code)
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
// Types only from @s4op/shared: importing it at run time would load zod and add ~200 ms to every job.
import { sha256Hex, type DevicePeak, type JobError, type MeasureSettings, type RuntimeName } from '@s4op/shared';
import { timeRuns } from './bench.js';
import { JobFailure, errorText as text, firstRuns, prepareFeeds, type ModelInputs } from './job-steps.js';
import { declaredWork, type DeclaredWork } from './declared.js';
import { measurePeak } from './peak.js';
import { profileModel, type RawProfile } from './profile.js';
import { runtimeByName } from '../runtimes/registry.js';
import type { LoadOptions, Session } from '../runtimes/runtime.js';

export type { DeclaredWork };

export type ChildRequest =
  | { kind: 'probe'; runtime: RuntimeName }
  | { kind: 'measure'; runtime: RuntimeName; models: { path: string; sha256: string }[]; settings: MeasureSettings }
  /** The device's MatMul and memory peak for a runtime and thread count (peak.ts). */
  | { kind: 'peak'; runtime: RuntimeName; threads: number };

export interface ChildModelFigures {
  sha256: string;
  size_bytes: number;
  inputs: ModelInputs[];
  load_ms: number;
  first_run_ms: number;
  samples: number[];
  /** Null for a model without our metadata. */
  declared: DeclaredWork | null;
  /** settings.profile only: the profile, or null with profile_error. */
  profile?: RawProfile | null;
  profile_error?: string;
}

export interface ChildFigures {
  runtime: { name: RuntimeName; version: string; settings: Record<string, string | number | boolean> };
  models: ChildModelFigures[];
  ratios: number[] | null;
  warmup: { runs: number; ms: number };
  /** Bytes. */
  rss: { baseline: number; after_load: number; after_first_run: number; peak: number };
  /** CPU time of this process (all threads) while it handled the request, ms: the parent counts it as its own, not background load. */
  cpu_ms: number;
}

export type ChildReply =
  | { kind: 'probe'; ok: true; version: string }
  | { kind: 'probe'; ok: false; reason: string }
  | { kind: 'figures'; figures: ChildFigures }
  | { kind: 'peak'; peak: DevicePeak; cpu_ms: number }
  | { kind: 'failed'; error: JobError }
  /** A pre-forked child has imported its runtime and waits for a request. */
  | { kind: 'ready' };

/** ONNX model y = Relu(x), x: float32[1] (65 bytes, IR 8, opset 13). */
const PROBE_MODEL = Buffer.from(
  'CAg6NwoMCgF4EgF5IgRSZWx1EgVwcm9iZVoPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEA0=',
  'base64',
);

/** Peak resident set in bytes: the kernel's high-water mark where readable, else libuv's maxRSS. */
async function peakRss(): Promise<number> {
  try {
    const status = await readFile('/proc/self/status', 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** Resident set in bytes; from /proc when libuv reports 0 (as under qemu-user emulation). */
function rss(): number {
  const r = process.memoryUsage().rss;
  if (r > 0) return r;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return 0;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function measure(req: Extract<ChildRequest, { kind: 'measure' }>): Promise<ChildFigures> {
  const cpu0 = cpuMs();
  const runtime = runtimeByName(req.runtime);
  const avail = await runtime.available();
  if (!avail.ok) throw new JobFailure('runtime_unavailable', `${req.runtime} cannot load here: ${avail.reason}`);
  const options: LoadOptions = {
    threads: req.settings.threads,
    graph_optimization: req.settings.graph_optimization,
    arena: req.settings.arena,
    spin: req.settings.spin,
  };

  const bytes: Uint8Array[] = [];
  for (const m of req.models) {
    const b = await readFile(m.path);
    // Verified again right before use: the cache file could have been damaged since it was stored.
    if (sha256Hex(b) !== m.sha256)
      throw new JobFailure('hash_mismatch', `cached model ${m.sha256.slice(0, 12)}… no longer matches its hash`);
    bytes.push(b);
  }
  global.gc?.();
  const baseline = rss();

  const sessions: Session[] = [];
  const loadMs: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const t0 = performance.now();
    try {
      sessions.push(await runtime.load(bytes[i]!, options));
    } catch (err) {
      throw new JobFailure(
        'bad_model',
        `${req.runtime} could not load model ${req.models[i]!.sha256.slice(0, 12)}… (${bytes[i]!.length} bytes): ${text(err)}`,
      );
    }
    loadMs.push(performance.now() - t0);
  }
  const afterLoad = rss();

  const { feeds, inputs } = prepareFeeds(sessions, req.settings);
  const firstMs = await firstRuns(sessions, feeds, req.models);
  const afterFirst = rss();

  let timed;
  try {
    timed = await timeRuns(
      sessions.map((s, i) => () => s.run(feeds[i]!)),
      req.settings,
    );
  } catch (err) {
    throw new JobFailure('run_failed', `a timed run failed: ${text(err)}`);
  }
  const peak = Math.max(await peakRss(), afterFirst);
  for (const s of sessions) await s.dispose();

  const declared = bytes.map((b, i) => declaredWork(b, inputs[i]!));
  const profiles: { profile: RawProfile | null; profile_error?: string }[] = [];
  if (req.settings.profile) {
    for (let i = 0; i < bytes.length; i++) {
      const p = await profileModel(runtime, bytes[i]!, options, feeds[i]!, declared[i]?.by_section != null);
      profiles.push(p.ok ? { profile: p.profile } : { profile: null, profile_error: p.reason });
    }
  }

  return {
    runtime: { name: runtime.name, version: avail.version, settings: runtime.describe(options) },
    models: req.models.map((m, i) => ({
      sha256: m.sha256,
      size_bytes: bytes[i]!.length,
      inputs: inputs[i]!,
      load_ms: loadMs[i]!,
      first_run_ms: firstMs[i]!,
      samples: timed.samples[i]!,
      declared: declared[i]!,
      ...(profiles[i] ?? {}),
    })),
    ratios: timed.ratios,
    warmup: timed.warmup,
    rss: { baseline, after_load: afterLoad, after_first_run: afterFirst, peak },
    cpu_ms: cpuMs() - cpu0,
  };
}

async function handle(req: ChildRequest): Promise<ChildReply> {
  if (req.kind === 'probe') {
    const a = await runtimeByName(req.runtime).available();
    if (!a.ok) return { kind: 'probe', ok: false, reason: a.reason };
    // Loading and running a one-node model proves the library really works on this CPU, not just that it imports.
    try {
      const runtime = runtimeByName(req.runtime);
      const session = await runtime.load(PROBE_MODEL, { threads: 1, graph_optimization: 'all', arena: true });
      await session.run({ x: { dtype: 'float32', data: new Float32Array([1]), dims: [1] } });
      await session.dispose();
    } catch (err) {
      return { kind: 'probe', ok: false, reason: `loads but cannot run a model: ${text(err)}` };
    }
    return { kind: 'probe', ok: true, version: a.version };
  }
  if (req.kind === 'peak') {
    try {
      const runtime = runtimeByName(req.runtime);
      const a = await runtime.available();
      if (!a.ok)
        return {
          kind: 'failed',
          error: { code: 'runtime_unavailable', message: `${req.runtime} cannot load here: ${a.reason}` },
        };
      const cpu0 = cpuMs();
      const peak = await measurePeak(runtime, a.version, {
        threads: req.threads,
        graph_optimization: 'all',
        arena: true,
      });
      return { kind: 'peak', peak, cpu_ms: cpuMs() - cpu0 };
    } catch (err) {
      return { kind: 'failed', error: { code: 'run_failed', message: `device peak: ${text(err)}` } };
    }
  }
  try {
    return { kind: 'figures', figures: await measure(req) };
  } catch (err) {
    if (err instanceof JobFailure) return { kind: 'failed', error: { code: err.code, message: err.message } };
    return { kind: 'failed', error: { code: 'agent_error', message: text(err) } };
  }
}

if (!process.send) {
  process.stderr.write('measure-child: run by the agent over IPC, not by hand\n');
  process.exit(2);
}
// The agent going away leaves nothing to report to.
process.on('disconnect', () => process.exit(0));
process.once('message', (req: ChildRequest) => {
  void handle(req).then((reply) => {
    process.send!(reply, () => process.exit(0));
  });
});
// Ready once listening (a request sent earlier could be lost while modules load). With
// `--preload <runtime>`, a spare process forked ahead of the next job imports its runtime first, so the
// job does not wait for it; no model is loaded, so the job's memory figures stay clean.
const preload = process.argv.indexOf('--preload');
const warm =
  preload >= 0
    ? runtimeByName(process.argv[preload + 1] as RuntimeName)
        .available()
        .catch(() => undefined)
    : Promise.resolve();
void warm.then(() => process.send!({ kind: 'ready' } satisfies ChildReply));
