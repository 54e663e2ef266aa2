import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';

/**
 * The tfjs backend seam: one place decides which backend the host computes on.
 * Preference: tfjs-node (native TensorFlow, when its optional package installed), then WASM
 * (SIMD matmul, single-threaded in Node), then the plain JS CPU backend.
 *
 * tfjs-node is picked whenever it installed, but nothing in this repository's CI can run it: before it is
 * trusted, a start-up self-check (backend-check.ts) runs the SSM ops forward and backward and one training
 * step on it and on wasm, and it is used only when they agree. The verdict is cached per installed version;
 * on disagreement or failure the host says why in one line and computes on wasm. Asking for a backend by
 * name (--backend, S4OP_BACKEND) skips the check.
 */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export const BACKEND_PRIORITY: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export interface BackendLoader {
  name: string;
  /** Imports whatever registers the backend; throws when it is not installed. */
  register(): Promise<void>;
  /** When set, the backend is trusted only once it agrees with `reference` on the self-check. */
  selfCheck?: { reference: BackendLoader; version(): string };
}

const LOADERS: Record<BackendName, BackendLoader> = {
  tensorflow: {
    name: 'tensorflow',
    async register() {
      // Optional dependency: absent on machines where its libtensorflow download cannot run.
      const id = '@tensorflow/tfjs-node';
      await import(id);
    },
    selfCheck: {
      get reference() {
        return LOADERS.wasm;
      },
      version: () => {
        const id = '@tensorflow/tfjs-node/package.json';
        return `@tensorflow/tfjs-node@${(createRequire(import.meta.url)(id) as { version: string }).version}`;
      },
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

export interface StartOptions {
  /** Run the self-check of loaders that have one (default true). */
  selfCheck?: boolean;
  /** Self-check cache file (default: backend-check.ts's; null: no cache). */
  cacheFile?: string | null;
  /** Where the one-line fallback message goes (default: stderr). */
  log?: (line: string) => void;
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
  chosen = (await startFirstBackend(
    order.map((n) => LOADERS[n]),
    { selfCheck: !requested },
  )) as BackendChoice;
  return chosen;
}

/**
 * Starts the first of `loaders` that registers, starts and (when it has one) passes its self-check; the
 * others are listed in `skipped` with why. The generic core of initBackend, open to test backends.
 */
export async function startFirstBackend(
  loaders: readonly BackendLoader[],
  opts: StartOptions = {},
): Promise<{ name: string; skipped: { name: string; reason: string }[] }> {
  const skipped: { name: string; reason: string }[] = [];
  // Production mode: no debug checks, and no console advert for tfjs-node when it is absent by design.
  tf.env().set('PROD', true);
  for (const loader of loaders) {
    const name = loader.name;
    try {
      await loader.register();
      if (!(await tf.setBackend(name))) throw new Error('tf.setBackend returned false');
      await tf.ready();
    } catch (err) {
      skipped.push({ name, reason: firstLine(err) });
      continue;
    }
    if (loader.selfCheck && opts.selfCheck !== false) {
      const ref = loader.selfCheck.reference;
      let reason: string | undefined;
      try {
        await ref.register();
        const { checkBackend } = await import('./backend-check.js');
        const verdict = await checkBackend({
          candidate: name,
          reference: ref.name,
          version: loader.selfCheck.version(),
          cacheFile: opts.cacheFile,
        });
        if (!verdict.ok) reason = verdict.reason ?? 'disagrees';
      } catch (err) {
        reason = `could not run: ${firstLine(err)}`;
      }
      if (reason) {
        (opts.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(
          `s4op: tfjs backend ${name} failed its self-check against ${ref.name} (${reason}); computing on ${ref.name} instead (S4OP_BACKEND=${name} forces it)`,
        );
        skipped.push({ name, reason: `self-check against ${ref.name}: ${reason}` });
        continue;
      }
    }
    return { name, skipped };
  }
  throw new Error(`no tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

export function describeBackend(choice: BackendChoice): string {
  const notes = choice.skipped.map((s) => `${s.name} unavailable (${s.reason})`);
  return `tfjs backend: ${choice.name}${notes.length ? ` [${notes.join('; ')}]` : ''}`;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.slice(0, 160);
}
