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
      return { ok: false, reason: errorText(err).split('\n')[0]!.slice(0, 300) };
    }
  },
  async load(bytes: Uint8Array, options: LoadOptions): Promise<Session> {
    const m = await ort();
    return wrapSession(m, (await m.InferenceSession.create(bytes, sessionOptions(options))) as never);
  },
  async loadProfiled(bytes: Uint8Array, options: LoadOptions, filePrefix: string) {
    const m = await ort();
    const session = (await m.InferenceSession.create(bytes, { ...sessionOptions(options), enableProfiling: true, profileFilePrefix: filePrefix })) as unknown as { endProfiling(): void };
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
