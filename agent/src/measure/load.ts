/**
 * The agent's view of background load during a job: how much CPU time other processes took while it
 * measured, from the kernel's counters (Linux /proc/stat), less the CPU time of the agent itself and of the
 * job's measurement process. Boards run their own services and hosts run fine-tunes beside a local agent;
 * a job taken while they were busy is flagged so the figures are not trusted blindly.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { BackgroundLoad } from '@s4op/shared';

/**
 * A job is `busy` when other processes took more than this share of the machine's whole CPU time
 * (e.g. more than one core of four, or half a core of two) while it ran.
 */
export const BUSY_THRESHOLD = 0.25;

/** Clock ticks per second of /proc's CPU counters (USER_HZ: 100 on every Linux ABI Node runs on). */
const USER_HZ = 100;

export interface CpuReading {
  /** Busy time of all CPUs together (user, nice, system, irq, softirq, steal), ms. */
  busyMs: number;
  /** Busy plus idle and iowait of all CPUs together, ms. */
  totalMs: number;
  /** CPUs counted in /proc/stat. */
  cores: number;
  /** This process's own CPU time (all its threads), ms. */
  selfMs: number;
}

/** Parses /proc/stat's aggregate `cpu` line and counts the per-CPU lines. */
export function parseProcStat(text: string): { busyMs: number; totalMs: number; cores: number } | null {
  const lines = text.split('\n');
  const agg = lines.find((l) => /^cpu\s/.test(l));
  if (!agg) return null;
  const f = agg.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((v) => !Number.isFinite(v))) return null;
  // user nice system idle iowait irq softirq steal (guest and guest_nice are already inside user and nice)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  const cores = lines.filter((l) => /^cpu\d+\s/.test(l)).length || os.cpus().length || 1;
  const toMs = (ticks: number) => (ticks * 1000) / USER_HZ;
  return { busyMs: toMs(busy), totalMs: toMs(busy + idle + iowait), cores };
}

/** A reading of the machine's CPU counters, or null where there is no /proc/stat (not Linux). */
export async function readCpu(): Promise<CpuReading | null> {
  let text: string;
  try {
    text = await readFile('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  return reading(text);
}

/** readCpu without waiting: for the instant a request goes to the measurement process. */
export function readCpuSync(): CpuReading | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  return reading(text);
}

function reading(text: string): CpuReading | null {
  const p = parseProcStat(text);
  if (!p) return null;
  const u = process.cpuUsage();
  return { ...p, selfMs: (u.user + u.system) / 1000 };
}

/** CPU time (user + system, all threads) of process `pid` so far, from /proc/PID/stat; null if unreadable. */
export async function processCpuMs(pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): utime and stime are fields 14 and 15.
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
    return ((utime + stime) * 1000) / USER_HZ;
  } catch {
    return null;
  }
}

/**
 * Other processes' CPU use between two readings. `excludedMs` is CPU time to count as ours besides this
 * process's own (the measurement process's, which it reports itself).
 */
export function backgroundLoad(
  start: CpuReading,
  end: CpuReading,
  excludedMs: number,
  loadavg1m: number | null = currentLoadavg(),
): BackgroundLoad {
  const capacity = end.totalMs - start.totalMs;
  const cores = end.cores;
  const ours = end.selfMs - start.selfMs + Math.max(0, excludedMs);
  const others = Math.max(0, end.busyMs - start.busyMs - ours);
  const fraction = capacity > 0 ? Math.min(1, others / capacity) : 0;
  return {
    other_cpu_fraction: round(fraction, 4),
    other_cpu_cores: round(fraction * cores, 3),
    cores,
    loadavg_1m: loadavg1m,
    busy: fraction > BUSY_THRESHOLD,
    busy_threshold: BUSY_THRESHOLD,
  };
}

function currentLoadavg(): number | null {
  const l = os.loadavg()[0];
  return typeof l === 'number' && Number.isFinite(l) && os.platform() !== 'win32' ? round(l, 2) : null;
}

function round(x: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}
