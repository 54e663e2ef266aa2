/**
 * Where the time goes, inside the measurement process: after the timed runs, a second session of the same
 * model with onnxruntime's profiler on runs a few warm-up and then PROFILE_RUNS runs; its JSON trace gives
 * each node's kernel time per run. Summed by node type, and — for an S4oP export — by section, read from
 * the node name's prefix before '/' (`ssm/MatMul_4` → ssm; see host/src/export/onnx-builder.ts; fused nodes
 * keep their first node's name). Types only from @s4op/shared (no zod in the measurement process).
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { median } from '@s4op/shared';
import type { Feeds, LoadOptions, Runtime } from '../runtimes/runtime.js';

export const PROFILE_WARMUP_RUNS = 3;
export const PROFILE_RUNS = 20;
export const SECTION_NAMES = ['ssm', 'mixing', 'norm', 'other'] as const;

/** The profile as the measurement process reports it (the parent adds GFLOP/s per section). */
export interface RawProfile {
  runs: number;
  run_ms: number;
  kernel_ms: number;
  by_op_type: Record<string, number>;
  by_section: Record<string, number> | null;
}

export type ProfileOutcome = { ok: true; profile: RawProfile } | { ok: false; reason: string };

interface TraceEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string };
}

/** The section of a node by its name's prefix; names without a known prefix are `other`. */
export function sectionOf(nodeName: string): string {
  const slash = nodeName.indexOf('/');
  const prefix = slash > 0 ? nodeName.slice(0, slash) : '';
  return (SECTION_NAMES as readonly string[]).includes(prefix) ? prefix : 'other';
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * Reads onnxruntime's trace: the runs after the first `skip` (`model_run` events), each node's kernel time
 * per run (summed when a node runs twice in a run, 0 when not at all), its median over runs, summed by type
 * and section. `sections` false: by_section is null.
 */
export function summariseTrace(events: TraceEvent[], skip: number, sections: boolean): RawProfile {
  const runs = events
    .filter(
      (e) => e.cat === 'Session' && e.name === 'model_run' && typeof e.ts === 'number' && typeof e.dur === 'number',
    )
    .sort((a, b) => a.ts! - b.ts!)
    .slice(skip);
  if (runs.length === 0) throw new Error('the profile holds no model runs');
  const nodes = new Map<string, { op: string; perRun: number[] }>();
  const kernels = events.filter(
    (e) =>
      e.cat === 'Node' &&
      typeof e.name === 'string' &&
      e.name.endsWith('_kernel_time') &&
      typeof e.ts === 'number' &&
      typeof e.dur === 'number',
  );
  runs.forEach((run, i) => {
    for (const e of kernels) {
      if (e.ts! < run.ts! || e.ts! > run.ts! + run.dur!) continue;
      const name = e.name!.slice(0, -'_kernel_time'.length);
      let n = nodes.get(name);
      if (!n)
        nodes.set(name, (n = { op: e.args?.op_name ?? 'unknown', perRun: new Array<number>(runs.length).fill(0) }));
      n.perRun[i]! += e.dur! / 1000;
    }
  });
  const byOp: Record<string, number> = {};
  const bySection: Record<string, number> = Object.fromEntries(SECTION_NAMES.map((s) => [s, 0]));
  let kernel = 0;
  for (const [name, n] of nodes) {
    const ms = median(n.perRun);
    kernel += ms;
    byOp[n.op] = (byOp[n.op] ?? 0) + ms;
    bySection[sectionOf(name)]! += ms;
  }
  const sorted = (o: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(o)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, r4(v)]),
    );
  return {
    runs: runs.length,
    run_ms: r4(median(runs.map((r) => r.dur! / 1000))),
    kernel_ms: r4(kernel),
    by_op_type: sorted(byOp),
    by_section: sections ? Object.fromEntries(Object.entries(bySection).map(([k, v]) => [k, r4(v)])) : null,
  };
}

/** Profiles one model with `runtime`; a runtime that cannot profile gives the reason. */
export async function profileModel(
  runtime: Runtime,
  bytes: Uint8Array,
  options: LoadOptions,
  feeds: Feeds,
  sections: boolean,
): Promise<ProfileOutcome> {
  if (!runtime.loadProfiled)
    return { ok: false, reason: `${runtime.name} cannot write onnxruntime's profile here (only onnxruntime-node can)` };
  const dir = await mkdtemp(path.join(os.tmpdir(), 's4op-profile-'));
  try {
    const { session, end } = await runtime.loadProfiled(bytes, options, path.join(dir, 'ort'));
    try {
      for (let i = 0; i < PROFILE_WARMUP_RUNS + PROFILE_RUNS; i++) await session.run(feeds);
    } finally {
      end();
      await session.dispose();
    }
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    if (files.length !== 1)
      return { ok: false, reason: `onnxruntime wrote ${files.length} profile files, expected one` };
    const events = JSON.parse(await readFile(path.join(dir, files[0]!), 'utf8')) as TraceEvent[];
    if (!Array.isArray(events)) return { ok: false, reason: 'the profile is not a list of trace events' };
    return { ok: true, profile: summariseTrace(events, PROFILE_WARMUP_RUNS, sections) };
  } catch (err) {
    return {
      ok: false,
      reason: `profiling failed: ${(err instanceof Error ? err.message : String(err)).slice(0, 500)}`,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
