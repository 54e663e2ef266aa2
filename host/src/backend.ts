import * as tf from '@tensorflow/tfjs';

/**
 * The tfjs backend seam: one place decides which backend the host computes on.
 * Preference: tfjs-node (native TensorFlow, when its optional package installed), then WASM
 * (SIMD matmul, single-threaded in Node), then the plain JS CPU backend.
 */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export const BACKEND_PRIORITY: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

interface BackendLoader {
  name: BackendName;
  /** Imports whatever registers the backend; throws when it is not installed. */
  register(): Promise<void>;
}

const LOADERS: Record<BackendName, BackendLoader> = {
  tensorflow: {
    name: 'tensorflow',
    async register() {
      // Optional dependency: absent on machines where its libtensorflow download cannot run.
      const id = '@tensorflow/tfjs-node';
      await import(id);
    },
  },
  wasm: {
    name: 'wasm',
    async register() {
      await import('@tensorflow/tfjs-backend-wasm');
    },
  },
  cpu: {
    name: 'cpu',
    async register() {
      // Part of @tensorflow/tfjs itself.
    },
  },
};

export interface BackendChoice {
  name: BackendName;
  /** Backends tried before the chosen one, with why each was skipped. */
  skipped: { name: BackendName; reason: string }[];
}

let chosen: BackendChoice | undefined;

function parseBackendName(value: string): BackendName {
  if ((BACKEND_PRIORITY as readonly string[]).includes(value)) return value as BackendName;
  throw new Error(`unknown tfjs backend "${value}" (S4OP_BACKEND); expected one of ${BACKEND_PRIORITY.join(', ')}`);
}

/**
 * Picks the first backend that loads, in priority order, or exactly `want` (or $S4OP_BACKEND) when given.
 * Idempotent: later calls return the first choice unless a different backend is asked for.
 */
export async function initBackend(want?: string): Promise<BackendChoice> {
  const requested = want ?? process.env.S4OP_BACKEND;
  const order = requested ? [parseBackendName(requested)] : BACKEND_PRIORITY;
  if (chosen && (!requested || chosen.name === requested)) return chosen;
  const skipped: BackendChoice['skipped'] = [];
  // Production mode: no debug checks, and no console advert for tfjs-node when it is absent by design.
  tf.env().set('PROD', true);
  for (const name of order) {
    try {
      await LOADERS[name].register();
      if (!(await tf.setBackend(name))) throw new Error('tf.setBackend returned false');
      await tf.ready();
      chosen = { name, skipped };
      return chosen;
    } catch (err) {
      skipped.push({ name, reason: firstLine(err) });
    }
  }
  throw new Error(
    `no tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
  );
}

export function describeBackend(choice: BackendChoice): string {
  const notes = choice.skipped.map((s) => `${s.name} unavailable (${s.reason})`);
  return `tfjs backend: ${choice.name}${notes.length ? ` [${notes.join('; ')}]` : ''}`;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.slice(0, 160);
}
