/**
 * The runtime seam of the agent, shaped like onnxruntime's own js/ backends: a runtime says whether it
 * can work here, loads model bytes into a session, and the session runs feeds. Every measurement names
 * the runtime, its version and the settings it applied.
 */
import type { RuntimeName, TypedArray } from '@s4op/shared';

export interface LoadOptions {
  /** Intra-op threads (native) or WASM threads (web). */
  threads: number;
  graph_optimization: 'disabled' | 'basic' | 'extended' | 'all';
  /** CPU memory arena (native only). */
  arena: boolean;
  /** Idle intra-op threads spin (session.intra_op.allow_spinning); undefined keeps onnxruntime's default. */
  spin?: boolean;
}

/** A declared model input, as the runtime reports it. */
export interface InputInfo {
  name: string;
  isTensor: boolean;
  /** ONNX Runtime's tensor type name (float32, int64, string, …); undefined for non-tensors. */
  dtype?: string;
  /** Fixed sizes as numbers, symbolic ones as names; -1 or '' for unnamed dynamic dimensions. */
  shape: (number | string)[];
}

/** The typed arrays tensors are held in (the shared dtype table says which for which dtype). */
export type TensorData = TypedArray;

export interface PlainTensor {
  dtype: string;
  data: TensorData;
  dims: number[];
}

export type Feeds = Record<string, PlainTensor>;

export interface Session {
  inputs(): InputInfo[];
  /** One inference; resolves when the outputs are computed. */
  run(feeds: Feeds): Promise<void>;
  /** Output names in the model's order. */
  outputNames(): string[];
  /** One inference that returns the outputs (the local inference API; `run` skips the copy for timing). */
  infer(feeds: Feeds): Promise<Record<string, PlainTensor>>;
  dispose(): Promise<void>;
}

export type Availability = { ok: true; version: string } | { ok: false; reason: string };

export interface Runtime {
  readonly name: RuntimeName;
  /** Imports the runtime; may be slow or crash the process (native code), so the agent probes in a child. */
  available(): Promise<Availability>;
  load(bytes: Uint8Array, options: LoadOptions): Promise<Session>;
  /**
   * Loads with onnxruntime's profiler on, writing its JSON trace to `<filePrefix>_<timestamp>.json` when
   * `end()` is called. Absent where the runtime cannot hand the trace back (onnxruntime-web).
   */
  loadProfiled?(
    bytes: Uint8Array,
    options: LoadOptions,
    filePrefix: string,
  ): Promise<{ session: Session; end: () => void }>;
  /** The settings as this runtime applies them, for the result record. */
  describe(options: LoadOptions): Record<string, string | number | boolean>;
}
