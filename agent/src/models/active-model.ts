/**
 * The deployed model an agent serves, and the one a rollback restores: `<cache dir>/active-model.json`,
 * written to a temporary file, flushed and renamed, so a crash leaves the old state or the new one, never
 * half of either. It survives agent restarts; the host reads it from the hello and converges the agent to
 * the desired state.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ActiveModelState, type DeployedModel } from '@s4op/shared';

export const ACTIVE_MODEL_FILE = 'active-model.json';

export class ActiveModelStore {
  private current: ActiveModelState = { active: null, previous: null };
  readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, ACTIVE_MODEL_FILE);
  }

  /** Reads the state a previous run left; a missing file is "nothing deployed", a corrupt one is an error that says so. */
  async load(): Promise<this> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this;
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new Error(
        `${this.file} is not JSON (${(err as Error).message}); remove it to start with no deployed model`,
      );
    }
    const parsed = ActiveModelState.safeParse(raw);
    if (!parsed.success)
      throw new Error(`${this.file} is not a model state: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    this.current = parsed.data;
    return this;
  }

  get state(): ActiveModelState {
    return structuredClone(this.current);
  }

  /** Hashes the model cache must never evict. */
  pinned(): string[] {
    return [this.current.active?.sha256, this.current.previous?.sha256].filter((s): s is string => Boolean(s));
  }

  /** The state after making `sha256` active (the current active becomes previous; re-activating keeps both). */
  activated(sha256: string, deployment_id: string | null): ActiveModelState {
    const { active, previous } = this.current;
    if (active?.sha256 === sha256) return { active: { ...active, deployment_id }, previous };
    const next: DeployedModel = { sha256, deployment_id, activated_at: new Date().toISOString() };
    return { active: next, previous: active };
  }

  /** The state after rolling back `deployment_id`: previous restored when the active model came from it. */
  rolledBack(deployment_id: string): ActiveModelState {
    const { active, previous } = this.current;
    if (!active || active.deployment_id !== deployment_id) return this.state;
    return { active: previous, previous: null };
  }

  /** Writes `next` atomically, then adopts it. */
  async save(next: ActiveModelState): Promise<void> {
    const checked = ActiveModelState.parse(next);
    const tmp = `${this.file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(`${JSON.stringify(checked, null, 2)}\n`);
      await fh.sync();
    } catch (err) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    await rename(tmp, this.file);
    this.current = checked;
  }
}
