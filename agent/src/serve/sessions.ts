/**
 * Streaming sessions of a step-mode model: the recurrent states stay on the agent between calls, zeros to
 * start, each step's `<state>_next` outputs fed back as the next step's `<state>` inputs. Steps of one
 * session run one after the other; a session belongs to the model it was opened on. Idle sessions expire.
 */
import { randomUUID } from 'node:crypto';
import type { ServedModel } from './model.js';
import { ServeError } from './tensors.js';
import type { Feeds, PlainTensor } from '../runtimes/runtime.js';

export const MAX_SESSIONS = 64;
export const SESSION_IDLE_MS = 10 * 60_000;

interface StepSession {
  id: string;
  model: ServedModel;
  batch: number;
  states: Record<string, PlainTensor>;
  steps: number;
  usedAt: number;
  queue: Promise<unknown>;
}

function zeros(model: ServedModel, input: string, batch: number): PlainTensor {
  const info = model.inputs.find((i) => i.name === input)!;
  if (info.dtype !== 'float32')
    throw new ServeError(
      'unsupported_input',
      `state input "${input}" is ${info.dtype}; only float32 states are supported`,
      422,
    );
  // The batch is the one free dimension of a state; any other unnamed size cannot be guessed.
  const dims = info.shape.map((d, i) => {
    if (typeof d === 'number' && d >= 0) return d;
    if (i === 0) return batch;
    throw new ServeError(
      'unsupported_input',
      `state input "${input}" has a dynamic dimension ${i} (${String(d)}) other than the batch`,
      422,
    );
  });
  return { dtype: 'float32', data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims };
}

export class StepSessions {
  private readonly sessions = new Map<string, StepSession>();

  open(model: ServedModel, batch: number): { id: string; batch: number; states: string[] } {
    if (!model.isStep)
      throw new ServeError(
        'not_step_model',
        `the active model ${model.sha256.slice(0, 12)}… is not a step-mode export (no <state>/<state>_next pairs): use POST /v1/infer`,
        409,
      );
    if (!Number.isInteger(batch) || batch < 1 || batch > 4096)
      throw new ServeError('bad_request', `batch must be an integer in 1–4096, got ${JSON.stringify(batch)}`);
    this.expire();
    if (this.sessions.size >= MAX_SESSIONS)
      throw new ServeError('too_many_sessions', `${MAX_SESSIONS} sessions are open: delete one first`, 429);
    const s: StepSession = {
      id: randomUUID(),
      model,
      batch,
      states: {},
      steps: 0,
      usedAt: Date.now(),
      queue: Promise.resolve(),
    };
    this.reset(s);
    this.sessions.set(s.id, s);
    return { id: s.id, batch, states: model.states.map((x) => x.input) };
  }

  private reset(s: StepSession): void {
    s.states = Object.fromEntries(s.model.states.map((x) => [x.input, zeros(s.model, x.input, s.batch)]));
    s.steps = 0;
  }

  private get(id: string, current: ServedModel | null): StepSession {
    const s = this.sessions.get(id);
    if (!s)
      throw new ServeError(
        'unknown_session',
        `no session "${id}" (expired after ${SESSION_IDLE_MS / 60_000} idle minutes, deleted, or never opened)`,
        404,
      );
    if (current?.sha256 !== s.model.sha256) {
      this.sessions.delete(id);
      throw new ServeError(
        'model_changed',
        `session "${id}" was opened on model ${s.model.sha256.slice(0, 12)}…, which is no longer active: open a new session`,
        409,
      );
    }
    s.usedAt = Date.now();
    return s;
  }

  /** Throws the API error for an unknown, expired or stale session. */
  check(id: string, current: ServedModel | null): void {
    this.get(id, current);
  }

  /** Runs one time step; `feeds` holds the data inputs only. Returns the outputs other than the next states. */
  step(
    id: string,
    current: ServedModel | null,
    feeds: Feeds,
  ): Promise<{ step: number; outputs: Record<string, PlainTensor> }> {
    const s = this.get(id, current);
    for (const [name, t] of Object.entries(feeds)) {
      if (t.dims[0] !== s.batch)
        throw new ServeError(
          'bad_shape',
          `input "${name}": batch ${t.dims[0]} differs from the session's batch ${s.batch}`,
        );
    }
    const run = s.queue.then(async () => {
      const out = await s.model.infer({ ...feeds, ...s.states });
      for (const x of s.model.states) {
        const next = out[x.output];
        if (!next) throw new ServeError('run_failed', `the model returned no ${x.output}`, 500);
        s.states[x.input] = next;
      }
      s.steps++;
      const outputs = Object.fromEntries(
        Object.entries(out).filter(([k]) => !s.model.states.some((x) => x.output === k)),
      );
      return { step: s.steps, outputs };
    });
    s.queue = run.catch(() => undefined);
    return run;
  }

  resetSession(id: string, current: ServedModel | null): { id: string; step: number } {
    const s = this.get(id, current);
    this.reset(s);
    return { id, step: 0 };
  }

  delete(id: string): boolean {
    return this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) if (now - s.usedAt > SESSION_IDLE_MS) this.sessions.delete(id);
  }
}
