/** What onnxruntime-node and onnxruntime-web share: the InferenceSession API of onnxruntime-common. */
import type { Feeds, InputInfo, PlainTensor, Session, TensorData } from './runtime.js';

/** The slice of an `onnxruntime-*` module the agent uses. */
export interface OrtModule {
  InferenceSession: {
    create(bytes: Uint8Array, options: Record<string, unknown>): Promise<OrtSession>;
  };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => unknown;
  env: { versions?: Record<string, string>; wasm?: { numThreads?: number } };
}

interface OrtSession {
  inputMetadata?: readonly { name: string; isTensor: boolean; type?: string; shape?: readonly (number | string)[] }[];
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<unknown>;
  release(): Promise<void>;
}

export function wrapSession(ort: OrtModule, session: OrtSession): Session {
  // Wrapping typed arrays in the runtime's Tensor class once, not per run, keeps it out of the timing.
  const wrapped = new WeakMap<Feeds, Record<string, unknown>>();
  return {
    inputs(): InputInfo[] {
      if (session.inputMetadata) {
        return session.inputMetadata.map((m) => ({
          name: m.name,
          isTensor: m.isTensor,
          dtype: m.isTensor ? m.type : undefined,
          shape: m.isTensor ? [...(m.shape ?? [])] : [],
        }));
      }
      return session.inputNames.map((name) => ({ name, isTensor: true, shape: [] }));
    },
    async run(feeds: Feeds): Promise<void> {
      let tensors = wrapped.get(feeds);
      if (!tensors) {
        tensors = {};
        for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.dtype, t.data, t.dims);
        wrapped.set(feeds, tensors);
      }
      await session.run(tensors);
    },
    outputNames(): string[] {
      return [...session.outputNames];
    },
    async infer(feeds: Feeds): Promise<Record<string, PlainTensor>> {
      const tensors: Record<string, unknown> = {};
      for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.dtype, t.data, t.dims);
      const out = (await session.run(tensors)) as Record<
        string,
        { type: string; data: unknown; dims: readonly number[] }
      >;
      const plain: Record<string, PlainTensor> = {};
      for (const [name, t] of Object.entries(out))
        plain[name] = { dtype: t.type, data: t.data as TensorData, dims: [...t.dims] };
      return plain;
    },
    async dispose(): Promise<void> {
      await session.release();
    },
  };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The session config entry for spinning (set only when asked, so onnxruntime's default stays the default). */
export function spinExtra(spin: boolean | undefined): {
  extra?: { session: { intra_op: { allow_spinning: string } } };
} {
  // The Node binding takes only string values in `extra`; both bindings flatten it to "session.intra_op.allow_spinning".
  return spin === undefined ? {} : { extra: { session: { intra_op: { allow_spinning: spin ? '1' : '0' } } } };
}

/** How a runtime records the spinning setting in a result. */
export function describeSpin(spin: boolean | undefined): string | boolean {
  return spin ?? 'default';
}
