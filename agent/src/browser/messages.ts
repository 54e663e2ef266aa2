/** What the browser agent's page and its measurement worker say to each other (structured-clone messages). */
import type { JobError, Measurement, MeasureSettings } from '@s4op/shared';

/** The runtime names a browser tab offers: WASM always, WebGPU where the browser has an adapter. */
export const BROWSER_WASM = 'onnxruntime-web';
export const BROWSER_WEBGPU = 'onnxruntime-web-webgpu';

export interface WorkerRequest {
  kind: 'measure';
  /** Where onnxruntime-web's own files are served (the host serves them from its node_modules). */
  ortBase: string;
  runtime: typeof BROWSER_WASM | typeof BROWSER_WEBGPU;
  models: { sha256: string; bytes: Uint8Array }[];
  settings: MeasureSettings;
  /** WebGPU adapter as the page saw it, recorded with the figures. */
  webgpuAdapter: string | null;
}

export type WorkerReply =
  | { kind: 'progress'; text: string }
  | { kind: 'figures'; measurement: Omit<Measurement, 'browser'> }
  | { kind: 'failed'; error: JobError };
