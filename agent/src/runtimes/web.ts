/** onnxruntime-web on WASM: the fallback where the native runtime cannot load (any CPU Node runs on). */
import type { Availability, LoadOptions, Runtime, Session } from './runtime.js';
import { describeSpin, errorText, spinExtra, wrapSession, type OrtModule } from './ort-common.js';

let mod: OrtModule | undefined;

async function ort(): Promise<OrtModule> {
  mod ??= (await import('onnxruntime-web')) as unknown as OrtModule;
  return mod;
}

export const webRuntime: Runtime = {
  name: 'onnxruntime-web',
  async available(): Promise<Availability> {
    try {
      const m = await ort();
      return { ok: true, version: m.env.versions?.web ?? m.env.versions?.common ?? 'unknown' };
    } catch (err) {
      return { ok: false, reason: errorText(err).split('\n')[0]!.slice(0, 300) };
    }
  },
  async load(bytes: Uint8Array, options: LoadOptions): Promise<Session> {
    const m = await ort();
    // The WASM thread count is global and fixed once the WASM module starts: one child process per job
    // makes that harmless.
    if (m.env.wasm) m.env.wasm.numThreads = options.threads;
    const session = await m.InferenceSession.create(bytes, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: options.graph_optimization,
      // The same session config entry reaches the WASM build's thread pool (only there with threads > 1).
      ...spinExtra(options.spin),
      logSeverityLevel: 4,
    });
    return wrapSession(m, session as never);
  },
  describe(options: LoadOptions) {
    return {
      execution_provider: 'wasm',
      wasm_threads: options.threads,
      graph_optimization: options.graph_optimization,
      intra_op_allow_spinning: describeSpin(options.spin),
    };
  },
};
