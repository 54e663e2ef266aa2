/**
 * Activate and roll back on the agent: a model becomes active only once it is in the cache with its hash
 * intact, loads for serving (when the inference API runs), and the new state is on disk; any failure leaves
 * the previous model active and says why. Requests run one at a time. At start the stored active model is
 * loaded again, so it survives an agent restart.
 */
import type { ActiveModelState, ModelRef, ModelStateMessage, RuntimeInfo } from '@s4op/shared';
import type { ActiveModelStore } from '../models/active-model.js';
import type { ModelCache } from '../models/cache.js';
import { pickRuntime } from '../runtimes/registry.js';
import type { InferenceServer } from './server.js';
import { ServedModel } from './model.js';

export interface ActivationDeps {
  cache: ModelCache;
  store: ActiveModelStore;
  server: InferenceServer | null;
  runtimes: () => readonly RuntimeInfo[];
  threads: number;
  log: (line: string) => void;
}

type Reply = Omit<ModelStateMessage, 'type'>;

export class Activation {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ActivationDeps) {}

  get state(): ActiveModelState {
    return this.deps.store.state;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async loadForServing(sha256: string): Promise<ServedModel | null> {
    if (!this.deps.server) return null;
    const pick = pickRuntime('auto', this.deps.runtimes());
    if (!pick.ok) throw new Error(pick.reason);
    return ServedModel.load(sha256, this.deps.cache.pathOf(sha256), { runtime: pick.name, threads: this.deps.threads });
  }

  /** Serves the stored active model again after a restart (a damaged or missing file is reported, not fatal). */
  async resume(): Promise<void> {
    const active = this.deps.store.state.active;
    if (!active) return;
    if (!(await this.deps.cache.verify(active.sha256))) {
      this.deps.log(
        `active model ${active.sha256.slice(0, 12)}… is missing or damaged in the cache: not serving until the host re-deploys it`,
      );
      return;
    }
    try {
      await this.deps.server?.setModel(await this.loadForServing(active.sha256));
      this.deps.log(`serving active model ${active.sha256.slice(0, 12)}… (deployment ${active.deployment_id ?? '-'})`);
    } catch (err) {
      this.deps.log(`active model ${active.sha256.slice(0, 12)}… does not load: ${(err as Error).message}`);
    }
  }

  activate(deployment_id: string, model: ModelRef): Promise<Reply> {
    return this.serial(async () => {
      const fail = (code: 'missing_model' | 'load_failed' | 'write_failed', message: string): Reply => {
        this.deps.log(`activate ${model.sha256.slice(0, 12)}… (${deployment_id}) failed: ${message}`);
        return {
          deployment_id,
          request: 'activate',
          state: this.state,
          error: { code, message: message.slice(0, 4000) },
        };
      };
      if (!(await this.deps.cache.verify(model.sha256)))
        return fail(
          'missing_model',
          `model ${model.sha256.slice(0, 12)}… is not in the cache (or no longer matches its hash)`,
        );
      let served: ServedModel | null;
      try {
        served = await this.loadForServing(model.sha256);
      } catch (err) {
        return fail(
          'load_failed',
          `the inference API cannot load model ${model.sha256.slice(0, 12)}…: ${(err as Error).message}`,
        );
      }
      try {
        await this.deps.store.save(this.deps.store.activated(model.sha256, deployment_id));
      } catch (err) {
        await served?.retire();
        return fail('write_failed', `cannot record the active model: ${(err as Error).message}`);
      }
      if (served) await this.deps.server!.setModel(served);
      this.deps.log(`active model is now ${model.sha256.slice(0, 12)}… (deployment ${deployment_id})`);
      return { deployment_id, request: 'activate', state: this.state, error: null };
    });
  }

  rollback(deployment_id: string): Promise<Reply> {
    return this.serial(async () => {
      const before = this.state;
      const next = this.deps.store.rolledBack(deployment_id);
      if (
        before.active?.sha256 === next.active?.sha256 &&
        before.active?.deployment_id === next.active?.deployment_id
      ) {
        return { deployment_id, request: 'rollback', state: before, error: null };
      }
      let served: ServedModel | null = null;
      if (next.active) {
        try {
          if (!(await this.deps.cache.verify(next.active.sha256))) throw new Error('it is not in the cache');
          served = await this.loadForServing(next.active.sha256);
        } catch (err) {
          const message = `cannot restore the previous model ${next.active.sha256.slice(0, 12)}…: ${(err as Error).message}`;
          this.deps.log(message);
          return { deployment_id, request: 'rollback', state: before, error: { code: 'load_failed', message } };
        }
      }
      try {
        await this.deps.store.save(next);
      } catch (err) {
        await served?.retire();
        return {
          deployment_id,
          request: 'rollback',
          state: before,
          error: { code: 'write_failed', message: (err as Error).message },
        };
      }
      await this.deps.server?.setModel(served);
      this.deps.log(
        `rolled back deployment ${deployment_id}: active model is ${next.active ? `${next.active.sha256.slice(0, 12)}…` : 'none'}`,
      );
      return { deployment_id, request: 'rollback', state: this.state, error: null };
    });
  }
}
