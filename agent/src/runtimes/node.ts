/** onnxruntime-node: the native CPU runtime, preferred wherever its binary loads. */
import type { Availability, LoadOptions, Runtime, Session } from './runtime.js';
import { describeSpin, errorText, spinExtra, wrapSession, type OrtModule } from './ort-common.js';

let mod: OrtModule | undefined;

async function ort(): Promise<OrtModule> {
  // Optional dependency: a variable specifier keeps bundlers and tsc from requiring it to exist.
  const id = 'onnxruntime-node';
  mod ??= (await import(id)) as OrtModule;
  return mod;
}

export const nodeRuntime: Runtime = {
  name: 'onnxruntime-node',
  async available(): Promise<Availability> {
    try {
      const m = await ort();
      return { ok: true, version: m.env.versions?.node ?? m.env.versions?.common ?? 'unknown' };
    } catch (err) {
      const reason = errorText(err).split('\n')[0]!.slice(0, 300);
      return { ok: false, reason: missingHere(err) ? `${reason} ${REINSTALL_HINT}` : reason };
    }
  },
  async load(bytes: Uint8Array, options: LoadOptions): Promise<Session> {
    const m = await ort();
    return wrapSession(m, (await m.InferenceSession.create(bytes, sessionOptions(options))) as never);
  },
  async loadProfiled(bytes: Uint8Array, options: LoadOptions, filePrefix: string) {
    const m = await ort();
    const session = (await m.InferenceSession.create(bytes, {
      ...sessionOptions(options),
      enableProfiling: true,
      profileFilePrefix: filePrefix,
    })) as unknown as { endProfiling(): void };
    return { session: wrapSession(m, session as never), end: () => session.endProfiling() };
  },
  describe(options: LoadOptions) {
    return {
      execution_provider: 'cpu',
      intra_op_threads: options.threads,
      inter_op_threads: 1,
      execution_mode: 'sequential',
      graph_optimization: options.graph_optimization,
      cpu_mem_arena: options.arena,
      intra_op_allow_spinning: describeSpin(options.spin),
    };
  },
};

/** Where onnxruntime-node ships a CPU binary in its package (bin/napi-v6/<os>/<arch>, 1.30). */
const NATIVE_PLATFORMS = new Set(['darwin/arm64', 'linux/arm64', 'linux/x64', 'win32/arm64', 'win32/x64']);

/** npm drops the optional package silently when its install script (a GPU download) fails. */
const REINSTALL_HINT =
  '(npm dropped it: its install script failed; reinstall the agent with ONNXRUNTIME_NODE_INSTALL=skip npm install …)';

function missingHere(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    NATIVE_PLATFORMS.has(`${process.platform}/${process.arch}`)
  );
}

function sessionOptions(options: LoadOptions): Record<string, unknown> {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: options.graph_optimization,
    enableCpuMemArena: options.arena,
    ...spinExtra(options.spin),
    // Errors come back as exceptions with the message; the native logger would only repeat them on stderr.
    logSeverityLevel: 4,
  };
}
