/**
 * Content-addressed model store on disk: `<dir>/<sha256>.onnx`. Files are written to a temporary name,
 * flushed, then renamed, so a crash never leaves a half model under a real hash. The total size is
 * bounded; the least recently used models (by mtime, touched on every use) are evicted first, except
 * those pinned by queued or running jobs.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { SHA256_HEX, sha256Hex } from '@s4op/shared';

interface Entry {
  size: number;
  usedAt: number;
}

export class ModelCache {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    if (!(maxBytes > 0)) throw new Error(`model cache size must be positive, got ${maxBytes}`);
  }

  /** Creates the folder, drops leftovers of interrupted writes, and indexes what is there. */
  async init(): Promise<this> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      const full = path.join(this.dir, name);
      if (name.includes('.tmp-')) {
        await unlink(full).catch(() => undefined);
        continue;
      }
      const sha = name.replace(/\.onnx$/, '');
      if (!name.endsWith('.onnx') || !SHA256_HEX.test(sha)) continue;
      const s = await stat(full);
      this.entries.set(sha, { size: s.size, usedAt: s.mtimeMs });
      this.clock = Math.max(this.clock, s.mtimeMs);
    }
    return this;
  }

  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: "${sha256}"`);
    return path.join(this.dir, `${sha256}.onnx`);
  }

  has(sha256: string): boolean {
    return this.entries.has(sha256);
  }

  get totalBytes(): number {
    let t = 0;
    for (const e of this.entries.values()) t += e.size;
    return t;
  }

  list(): { sha256: string; size: number }[] {
    return [...this.entries].map(([sha256, e]) => ({ sha256, size: e.size }));
  }

  /** Monotonic use stamp: file mtimes have coarse resolution, so order comes from a counter past them. */
  private tick(): number {
    this.clock = Math.max(this.clock + 1, Date.now());
    return this.clock;
  }

  /** Marks a model as just used (LRU order survives restarts through the file's mtime). */
  async touch(sha256: string): Promise<void> {
    const e = this.entries.get(sha256);
    if (!e) return;
    e.usedAt = this.tick();
    const t = new Date(e.usedAt);
    await utimes(this.pathOf(sha256), t, t).catch(() => undefined);
  }

  /** Stores verified bytes atomically, then evicts down to the bound. */
  async put(sha256: string, bytes: Uint8Array, pinned: ReadonlySet<string> = new Set()): Promise<void> {
    if (sha256Hex(bytes) !== sha256)
      throw new Error(`refusing to store bytes under ${sha256.slice(0, 12)}…: they hash differently`);
    if (bytes.length > this.maxBytes)
      throw new Error(
        `model ${sha256.slice(0, 12)}… of ${bytes.length} bytes is larger than the whole cache (${this.maxBytes} bytes)`,
      );
    // The bound is hard: pinned models (active, previous, jobs in hand) cannot be evicted, so they count first.
    let pinnedBytes = 0;
    for (const [sha, e] of this.entries) if (sha !== sha256 && pinned.has(sha)) pinnedBytes += e.size;
    if (pinnedBytes + bytes.length > this.maxBytes) {
      throw new Error(
        `model ${sha256.slice(0, 12)}… of ${bytes.length} bytes does not fit: ${pinnedBytes} bytes of the ${this.maxBytes}-byte cache hold models that cannot be evicted (active, previous, jobs in hand); raise --cache-max-mb`,
      );
    }
    const final = this.pathOf(sha256);
    const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    this.entries.set(sha256, { size: bytes.length, usedAt: this.tick() });
    await this.evict(new Set([...pinned, sha256]));
  }

  /** Re-reads a stored model and checks its hash; a damaged file is deleted and reported as absent. */
  async verify(sha256: string): Promise<boolean> {
    if (!this.entries.has(sha256)) return false;
    try {
      if (sha256Hex(await readFile(this.pathOf(sha256))) === sha256) return true;
    } catch {
      // unreadable counts as damaged
    }
    await this.remove(sha256);
    return false;
  }

  async remove(sha256: string): Promise<void> {
    this.entries.delete(sha256);
    await unlink(this.pathOf(sha256)).catch(() => undefined);
  }

  /** Evicts least recently used models, never a pinned one, until the total fits. Returns what went. */
  async evict(pinned: ReadonlySet<string> = new Set()): Promise<string[]> {
    const gone: string[] = [];
    const byAge = [...this.entries].filter(([sha]) => !pinned.has(sha)).sort((a, b) => a[1].usedAt - b[1].usedAt);
    let total = this.totalBytes;
    for (const [sha, e] of byAge) {
      if (total <= this.maxBytes) break;
      await this.remove(sha);
      total -= e.size;
      gone.push(sha);
    }
    return gone;
  }
}
