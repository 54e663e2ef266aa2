/**
 * Where an export's time goes: onnxruntime's profiler on one thread, kernel time per node (median over runs),
 * summed by section (node names start with the builder's section tag, 'ssm/' or 'other/'; fused nodes keep
 * the first node's name) and node type, against each section's declared FLOPs. Profiling adds a little time
 * to every node. Shared by export-latency.ts and export-speed.ts.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { median } from './common.js';

export interface SectionTime {
  ms: number;
  nodes: number;
  mflop: number;
  gflop_per_s: number;
  ms_by_op: Record<string, number>;
}

export async function profileSections(
  bytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  flops: { ssm: number; other: number },
  runs: number,
  sessionOptions: ort.InferenceSession.SessionOptions,
): Promise<Record<'ssm' | 'other', SectionTime>> {
  const dir = mkdtempSync(join(tmpdir(), 's4op-profile-'));
  const session = await ort.InferenceSession.create(bytes, {
    ...sessionOptions,
    intraOpNumThreads: 1,
    enableProfiling: true,
    profileFilePrefix: join(dir, 'ort'),
  });
  for (let i = 0; i < runs; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  const events = JSON.parse(readFileSync(join(dir, readdirSync(dir)[0]!), 'utf8')) as {
    cat: string;
    name: string;
    dur: number;
    args: { op_name?: string };
  }[];
  rmSync(dir, { recursive: true, force: true });
  const perNode = new Map<string, { op: string; us: number[] }>();
  for (const ev of events) {
    if (ev.cat !== 'Node' || !ev.name.endsWith('_kernel_time')) continue;
    const n = perNode.get(ev.name) ?? { op: ev.args.op_name ?? '?', us: [] };
    n.us.push(ev.dur);
    perNode.set(ev.name, n);
  }
  const sections = {} as Record<'ssm' | 'other', SectionTime>;
  for (const sec of ['ssm', 'other'] as const)
    sections[sec] = { ms: 0, nodes: 0, mflop: round(flops[sec] / 1e6, 2), gflop_per_s: 0, ms_by_op: {} };
  for (const [name, n] of perNode) {
    const sec = sections[name.startsWith('ssm/') ? 'ssm' : 'other'];
    const t = median(n.us) / 1000;
    sec.ms += t;
    sec.nodes++;
    sec.ms_by_op[n.op] = (sec.ms_by_op[n.op] ?? 0) + t;
  }
  for (const sec of Object.values(sections)) {
    sec.ms = round(sec.ms);
    sec.gflop_per_s = round(sec.mflop / sec.ms, 1);
    sec.ms_by_op = Object.fromEntries(
      Object.entries(sec.ms_by_op)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, round(v)]),
    );
  }
  return sections;
}

export function round(v: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
