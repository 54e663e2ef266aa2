/**
 * The steps of a measurement job that do not depend on where it runs (the node agent's measurement process or
 * a browser tab's worker): the typed failure a job ends with, synthesised feeds for each loaded model, and the
 * untimed first run of each (it pays for lazy initialisation and is reported apart from the timed runs).
 */
import type { JobError, MeasureSettings } from '@s4op/shared';
import { InputError, synthesiseFeeds } from './inputs.js';
import type { Feeds, Session } from '../runtimes/runtime.js';

/** A job's failure with the protocol's error code; anything else thrown is reported as an internal error. */
export class JobFailure extends Error {
  constructor(
    readonly code: JobError['code'],
    message: string,
  ) {
    super(message);
  }
}

/** An error's message, bounded (it travels in a protocol message). */
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

/** What a model was fed: each input's declared shape and the shape synthesised for it. */
export interface ModelInputs {
  name: string;
  dtype: string;
  declared_shape: (number | string)[];
  shape: number[];
}

/** Feeds for each session from its declared inputs, and what was fed (reported with the figures). */
export function prepareFeeds(
  sessions: readonly Session[],
  settings: MeasureSettings,
): { feeds: Feeds[]; inputs: ModelInputs[][] } {
  const feeds: Feeds[] = [];
  const inputs: ModelInputs[][] = [];
  for (const s of sessions) {
    try {
      const f = synthesiseFeeds(s.inputs(), settings);
      feeds.push(f);
      inputs.push(
        s.inputs().map((i) => ({
          name: i.name,
          dtype: i.dtype ?? 'non-tensor',
          declared_shape: i.shape,
          shape: f[i.name]!.dims,
        })),
      );
    } catch (err) {
      if (err instanceof InputError) throw new JobFailure('unsynthesisable_input', err.message);
      throw err;
    }
  }
  return { feeds, inputs };
}

/** One untimed run of each session, in ms; a model that cannot run fails the job naming it. */
export async function firstRuns(
  sessions: readonly Session[],
  feeds: readonly Feeds[],
  models: readonly { sha256: string }[],
): Promise<number[]> {
  const firstMs: number[] = [];
  for (let i = 0; i < sessions.length; i++) {
    const t0 = performance.now();
    try {
      await sessions[i]!.run(feeds[i]!);
    } catch (err) {
      throw new JobFailure(
        'run_failed',
        `first run of model ${models[i]!.sha256.slice(0, 12)}… failed: ${errorText(err)}`,
      );
    }
    firstMs.push(performance.now() - t0);
  }
  return firstMs;
}
