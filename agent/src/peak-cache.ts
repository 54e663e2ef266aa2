/**
 * The device peaks an agent has measured, one per runtime (and its version) and thread count, kept in
 * `<cache-dir>/device-peak.json` so each is measured once. A file that cannot be read back (damaged, or
 * written by something else) is reported and measured again, never trusted.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DevicePeak, type RuntimeName } from '@s4op/shared';

export const PEAK_FILE = 'device-peak.json';

/** The file's peaks, or why it cannot be used. */
function parseFile(raw: unknown): { ok: true; peaks: DevicePeak[] } | { ok: false; why: string } {
  if (typeof raw !== 'object' || raw === null || (raw as { format?: unknown }).format !== 1) return { ok: false, why: 'expected {"format": 1, "peaks": [...]}' };
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
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log(`warning: cannot read the device peak cache ${this.file} (${(err as Error).message}); peaks will be measured again`);
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
    this.log(`warning: the device peak cache ${this.file} is damaged (${why.slice(0, 200)}); peaks will be measured again`);
    return (this.peaks = []);
  }

  async find(runtime: RuntimeName, version: string, threads: number): Promise<DevicePeak | null> {
    return (await this.list()).find((p) => p.runtime === runtime && p.runtime_version === version && p.threads === threads) ?? null;
  }

  /** Stores a peak (replacing the one for the same runtime, version and threads), atomically. */
  async put(peak: DevicePeak): Promise<void> {
    const rest = (await this.list()).filter((p) => !(p.runtime === peak.runtime && p.runtime_version === peak.runtime_version && p.threads === peak.threads));
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
  async obtain(runtime: RuntimeName, version: string, threads: number, measure: MeasurePeak): Promise<{ peak: DevicePeak; cached: boolean }> {
    const hit = await this.find(runtime, version, threads);
    if (hit) return { peak: hit, cached: true };
    this.log(`measuring the device peak of ${runtime} ${version} at ${threads} thread${threads === 1 ? '' : 's'} (once; cached in ${this.file})`);
    const peak = await measure(runtime, threads);
    await this.put(peak);
    this.log(`device peak of ${runtime} at ${threads} thread${threads === 1 ? '' : 's'}: MatMul ${peak.matmul_gflops} GFLOP/s, memory ${peak.bandwidth_gbs} GB/s`);
    return { peak, cached: false };
  }
}
