/**
 * Parent side of a measurement: forks a fresh measurement process per job, enforces the job's timeout and
 * cancellation by killing it, reads the thermals around it, and turns its raw figures into the
 * Measurement record of the protocol. A crashed child is an error result, never an agent crash.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type DevicePeak, type JobError, type Measurement, type MeasureSettings, type RuntimeName } from '@s4op/shared';
import { backgroundLoad, readCpu, readCpuSync, type CpuReading } from './load.js';
import type { ChildReply, ChildRequest } from './measure-child.js';
import type { PeakCache } from './peak-cache.js';
import { thermalSnapshot, wasThrottled } from './thermal.js';
import { toMeasurement } from './figures.js';

export { toMeasurement };

const CHILD = fileURLToPath(new URL('./measure-child.js', import.meta.url));

export type MeasureOutcome = { ok: true; measurement: Measurement } | { ok: false; error: JobError };

/** Called with the child's pid once it runs (tests and logs use it). */
export type OnChild = (child: ChildProcess) => void;

interface Forked {
  child: ChildProcess;
  /** Resolves true once the child listens for its request (false if it died first). */
  ready: Promise<boolean>;
}

function forkChild(preload?: RuntimeName): Forked {
  const child = fork(CHILD, preload ? ['--preload', preload] : [], {
    // The same Node as the agent, unless a wrapper is named (an emulated board runs Node under qemu,
    // where a child cannot exec a foreign binary by itself).
    execPath: process.env.S4OP_CHILD_NODE || process.execPath,
    // --expose-gc lets the child settle its heap before the baseline RSS reading.
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  const ready = new Promise<boolean>((resolve) => {
    child.once('message', (m: ChildReply) => resolve(m.kind === 'ready'));
    child.once('exit', () => resolve(false));
    child.once('error', () => resolve(false));
  });
  return { child, ready };
}

interface Spare extends Forked {
  runtime: RuntimeName;
}

let spare: Spare | null = null;

/**
 * Forks a process for the next job ahead of time (it imports the runtime and waits). Starting Node and
 * the runtime is most of a job's fixed cost; a spare that has never loaded a model is as fresh as a new
 * one for the memory figures. It does not keep the agent alive and exits when the agent does.
 */
export function prepareSpare(runtime: RuntimeName): void {
  if (spare && spare.runtime === runtime && spare.child.exitCode === null && spare.child.signalCode === null) return;
  dropSpare();
  const forked = forkChild(runtime);
  forked.child.unref();
  (forked.child.channel as { unref?: () => void } | undefined)?.unref?.();
  forked.child.stderr?.resume();
  spare = { runtime, ...forked };
}

export function dropSpare(): void {
  spare?.child.kill('SIGKILL');
  spare = null;
}

/** A process ready for the request: the spare when it fits, else a new one. */
async function takeChild(runtime: RuntimeName | null): Promise<ChildProcess> {
  const s = spare;
  spare = null;
  if (s && s.runtime === runtime && (await s.ready)) {
    s.child.ref();
    (s.child.channel as { ref?: () => void } | undefined)?.ref?.();
    return s.child;
  }
  s?.child.kill('SIGKILL');
  const fresh = forkChild();
  // If it dies before it is ready, runChild sees the exit and reports it as a crash.
  await fresh.ready;
  return fresh.child;
}

/**
 * Sends `req` to a measurement process and waits for its reply. `onSend` runs the instant the request goes
 * out, after the process is ready: a background-load window opened there leaves out its start-up.
 */
async function runChild(
  req: ChildRequest,
  timeoutMs: number,
  signal?: AbortSignal,
  onChild?: OnChild,
  onSend?: () => void,
): Promise<ChildReply> {
  const child = await takeChild(req.kind === 'probe' ? null : req.runtime);
  return new Promise((resolve) => {
    let stderr = '';
    let reply: ChildReply | undefined;
    let settled = false;
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    const finish = (r: ChildReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolve(r);
    };
    const failed = (code: JobError['code'], message: string): ChildReply => ({
      kind: 'failed',
      error: { code, message },
    });
    const timer = setTimeout(
      () => finish(failed('timeout', `measurement exceeded the job's timeout of ${timeoutMs} ms and was stopped`)),
      timeoutMs,
    );
    const onAbort = () => finish(failed('cancelled', 'the job was cancelled'));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: ChildReply) => {
      if (m.kind !== 'ready') reply = m;
    });
    child.on('error', (err) =>
      finish(failed('runtime_crashed', `measurement process could not start: ${err.message}`)),
    );
    child.on('exit', (code, sig) => {
      if (reply) return finish(reply);
      const why = sig ? `was killed by ${sig}` : `exited with code ${code}`;
      const tail = stderr.trim().split('\n').slice(-3).join(' | ');
      finish(failed('runtime_crashed', `measurement process ${why} before reporting${tail ? `: ${tail}` : ''}`));
    });
    if (child.exitCode !== null || child.signalCode !== null)
      return finish(failed('runtime_crashed', 'measurement process exited before the job started'));
    onChild?.(child);
    onSend?.();
    child.send(req);
  });
}

/** Asks a fresh process whether `runtime` loads and runs a tiny model here (generous timeout: emulated boards are slow). */
export async function probeRuntime(
  runtime: RuntimeName,
  timeoutMs = Number(process.env.S4OP_PROBE_TIMEOUT_MS) || 180_000,
): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  const r = await runChild({ kind: 'probe', runtime }, timeoutMs);
  if (r.kind === 'probe') return r.ok ? { ok: true, version: r.version } : { ok: false, reason: r.reason };
  return { ok: false, reason: r.kind === 'failed' ? r.error.message : 'unexpected reply' };
}

/** How long the device-peak measurement may take (emulated boards are slow). */
const PEAK_TIMEOUT_MS = Number(process.env.S4OP_PEAK_TIMEOUT_MS) || 180_000;

/** Measures the device peak of `runtime` at `threads` in a fresh measurement process. */
export async function measurePeakInChild(
  runtime: RuntimeName,
  threads: number,
  signal?: AbortSignal,
): Promise<DevicePeak> {
  const loadWindow: { start: CpuReading | null } = { start: null };
  const r = await runChild(
    { kind: 'peak', runtime, threads },
    PEAK_TIMEOUT_MS,
    signal,
    undefined,
    () => (loadWindow.start = readCpuSync()),
  );
  const cpu1 = await readCpu();
  if (r.kind === 'peak')
    return {
      ...r.peak,
      background_load: loadWindow.start && cpu1 ? backgroundLoad(loadWindow.start, cpu1, r.cpu_ms) : null,
    };
  throw new Error(r.kind === 'failed' ? `${r.error.code}: ${r.error.message}` : 'unexpected reply to a peak request');
}

export interface MeasureRequest {
  runtime: RuntimeName;
  models: { path: string; sha256: string }[];
  settings: MeasureSettings;
  signal?: AbortSignal;
  onChild?: OnChild;
  /** Where the device peaks are cached; without it, no peak (peak_fraction null). */
  peaks?: PeakCache;
  log?: (line: string) => void;
}

export async function measure(req: MeasureRequest): Promise<MeasureOutcome> {
  const started = new Date();
  const before = await thermalSnapshot();
  // The load window runs from the request to the reply: a measurement process forked for this job (no
  // spare ready) starts up outside it, and the process's own CPU time inside it is subtracted.
  const loadWindow: { start: CpuReading | null } = { start: null };
  const reply = await runChild(
    { kind: 'measure', runtime: req.runtime, models: req.models, settings: req.settings },
    req.settings.timeout_ms,
    req.signal,
    req.onChild,
    () => (loadWindow.start = readCpuSync()),
  );
  if (reply.kind === 'failed') return { ok: false, error: reply.error };
  if (reply.kind !== 'figures')
    return { ok: false, error: { code: 'agent_error', message: 'measurement process gave an unexpected reply' } };
  const cpu1 = await readCpu();
  const after = await thermalSnapshot();
  const duration = Date.now() - started.getTime();
  const f = reply.figures;
  // The device peak, for models that declare their work: measured once per runtime and thread count, after
  // the job's own runs (so it does not disturb them), then read from the agent's cache.
  let devicePeak: DevicePeak | null | undefined;
  if (f.models.some((m) => m.declared)) {
    devicePeak = null;
    if (req.peaks) {
      try {
        devicePeak = (
          await req.peaks.obtain(req.runtime, f.runtime.version, req.settings.threads, (rt, threads) =>
            measurePeakInChild(rt, threads, req.signal),
          )
        ).peak;
      } catch (err) {
        if (req.signal?.aborted) return { ok: false, error: { code: 'cancelled', message: 'the job was cancelled' } };
        req.log?.(
          `device peak of ${req.runtime} at ${req.settings.threads} threads not measured: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }
  return {
    ok: true,
    measurement: toMeasurement(f, req.settings, {
      thermal: { before, after, throttled: wasThrottled(before, after) },
      started_at: started.toISOString(),
      duration_ms: duration,
      background_load: loadWindow.start && cpu1 ? backgroundLoad(loadWindow.start, cpu1, f.cpu_ms) : null,
      ...(devicePeak !== undefined ? { device_peak: devicePeak } : {}),
    }),
  };
}
