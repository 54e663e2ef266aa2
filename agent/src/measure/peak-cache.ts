/**
 * The device peaks an agent has measured, one per runtime (and its version) and thread count, kept in
 * `<cache-dir>/device-peak.json` so each is measured once. A file that cannot be read back (damaged, or
 * written by something else) is reported and measured again, never trusted. A peak measured while other
 * processes kept the machine busy (its background_load.busy) would understate the device for good: it is
 * used, kept, and measured once more by the next job that needs it in this agent's life; the better of the
 * two (a quiet one first, else the higher MatMul figure) is kept.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DevicePeak, type RuntimeName } from '@s4op/shared';

export const PEAK_FILE = 'device-peak.json';

/** The file's peaks, or why it cannot be used. */
function parseFile(raw: unknown): { ok: true; peaks: DevicePeak[] } | { ok: false; why: string } {
  if (typeof raw !== 'object' || raw === null || (raw as { format?: unknown }).format !== 1)
    return { ok: false, why: 'expected {"format": 1, "peaks": [...]}' };
  const peaks = (raw as { peaks?: unknown }).peaks;
  if (!Array.isArray(peaks)) return { ok: false, why: '"peaks" is not a list' };
  const out: DevicePeak[] = [];
  for (const [i, p] of peaks.entries()) {
    const r = DevicePeak.safeParse(p);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      return { ok: false, why: `peaks.${i}.${issue.path.join('.')}: ${issue.message}` };
    }
    out.push(r.data);
  }
  return { ok: true, peaks: out };
}

export type MeasurePeak = (runtime: RuntimeName, threads: number) => Promise<DevicePeak>;

export class PeakCache {
  readonly file: string;
  private peaks: DevicePeak[] | null = null;
  /** Keys of busy peaks measured again already in this process. */
  private readonly retried = new Set<string>();

  constructor(
    dir: string,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.file = path.join(dir, PEAK_FILE);
  }

  /** Every cached peak (an unreadable file counts as none, with a warning). */
  async list(): Promise<DevicePeak[]> {
    if (this.peaks) return this.peaks;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log(
          `warning: cannot read the device peak cache ${this.file} (${(err as Error).message}); peaks will be measured again`,
        );
      return (this.peaks = []);
    }
    let why: string;
    try {
      const parsed = parseFile(JSON.parse(text));
      if (parsed.ok) return (this.peaks = parsed.peaks);
      why = parsed.why;
    } catch (err) {
      why = `not JSON: ${(err as Error).message}`;
    }
    this.log(
      `warning: the device peak cache ${this.file} is damaged (${why.slice(0, 200)}); peaks will be measured again`,
    );
    return (this.peaks = []);
  }

  async find(runtime: RuntimeName, version: string, threads: number): Promise<DevicePeak | null> {
    return (
      (await this.list()).find(
        (p) => p.runtime === runtime && p.runtime_version === version && p.threads === threads,
      ) ?? null
    );
  }

  /** Stores a peak (replacing the one for the same runtime, version and threads), atomically. */
  async put(peak: DevicePeak): Promise<void> {
    const rest = (await this.list()).filter(
      (p) => !(p.runtime === peak.runtime && p.runtime_version === peak.runtime_version && p.threads === peak.threads),
    );
    this.peaks = [...rest, peak];
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, `${JSON.stringify({ format: 1, peaks: this.peaks }, null, 2)}\n`);
    await rename(tmp, this.file);
  }

  /**
   * The cached peak of `runtime` at `version` and `threads`, or a new measurement (stored) when there is
   * none. A measured peak whose version differs from `version` is stored under its own version.
   */
  async obtain(
    runtime: RuntimeName,
    version: string,
    threads: number,
    measure: MeasurePeak,
  ): Promise<{ peak: DevicePeak; cached: boolean }> {
    const hit = await this.find(runtime, version, threads);
    const key = `${runtime}@${version}/${threads}`;
    if (hit && !(hit.background_load?.busy && !this.retried.has(key))) return { peak: hit, cached: true };
    const t = `${threads} thread${threads === 1 ? '' : 's'}`;
    if (hit) {
      this.retried.add(key);
      this.log(
        `the cached device peak of ${runtime} ${version} at ${t} was measured on a busy machine: measuring it again`,
      );
    } else {
      this.log(`measuring the device peak of ${runtime} ${version} at ${t} (once; cached in ${this.file})`);
    }
    const fresh = await measure(runtime, threads);
    const peak = hit && better(hit, fresh) ? hit : fresh;
    await this.put(peak);
    this.log(
      `device peak of ${runtime} at ${t}: MatMul ${fresh.matmul_gflops} GFLOP/s, memory ${fresh.bandwidth_gbs} GB/s${fresh.background_load?.busy ? ` (machine busy: ${Math.round(fresh.background_load.other_cpu_fraction * 100)} % used by other processes)` : ''}${peak !== fresh ? `; keeping the earlier ${peak.matmul_gflops} GFLOP/s` : ''}`,
    );
    return { peak, cached: false };
  }
}

/** Whether peak `a` is the better figure of the device than `b`: measured quiet beats busy, else the higher MatMul rate. */
function better(a: DevicePeak, b: DevicePeak): boolean {
  const quietA = !a.background_load?.busy;
  const quietB = !b.background_load?.busy;
  if (quietA !== quietB) return quietA;
  return a.matmul_gflops > b.matmul_gflops;
}
