/**
 * The device's own limit, measured inside a measurement process: attainable MatMul throughput (square
 * MatMuls of a few sizes, GFLOP/s of the best size's median run; a size whose run takes over 250 ms is the
 * last one tried) and memory bandwidth (a large elementwise
 * Mul and a sum over its result, bytes read + written per second) for one runtime and thread count. The models are built here from
 * bytes (onnx-lite.ts): the agent does not depend on the host. Types only from @s4op/shared (no zod here).
 */
import os from 'node:os';
import { median, type DevicePeak } from '@s4op/shared';
import { bandwidthBytes, bandwidthModel, matmulModel } from '../onnx-lite.js';
import type { LoadOptions, Runtime } from '../runtimes/runtime.js';

export const MATMUL_SIZES = [256, 512, 1024] as const;

export interface PeakBudget {
  /** Minimum timed time per model, ms. */
  minMs: number;
  /** Minimum timed runs per model. */
  minRuns: number;
}

export const DEFAULT_PEAK_BUDGET: PeakBudget = { minMs: 300, minRuns: 3 };

/** A size whose median run takes longer than this is the last one tried (a slow or emulated board). */
const SLOW_RUN_MS = 250;

function randomFloats(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = (s >>> 0) / 2 ** 31 - 1;
  }
  return a;
}

/** Median ms per run of `bytes` with `feeds`, after one warm-up run (two when runs are fast). */
async function timeModel(
  runtime: Runtime,
  bytes: Uint8Array,
  options: LoadOptions,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
  budget: PeakBudget,
): Promise<number> {
  const session = await runtime.load(bytes, options);
  try {
    const plain = Object.fromEntries(
      Object.entries(feeds).map(([k, v]) => [k, { dtype: 'float32', data: v.data, dims: v.dims }]),
    );
    const w0 = performance.now();
    await session.run(plain);
    if (performance.now() - w0 < budget.minMs / 10) await session.run(plain);
    const times: number[] = [];
    const t0 = performance.now();
    while (times.length < budget.minRuns || (performance.now() - t0 < budget.minMs && times.length < 10_000)) {
      const t = performance.now();
      await session.run(plain);
      times.push(performance.now() - t);
    }
    return median(times);
  } finally {
    await session.dispose();
  }
}

/** Elements of the bandwidth test: well past any last-level cache, within what a small board can hold. */
export function bandwidthElements(totalMemBytes = os.totalmem()): number {
  return totalMemBytes >= 2 * 2 ** 30 ? 16 * 2 ** 20 : 4 * 2 ** 20;
}

/** Measures the peak figures of `runtime` at `options.threads` (the settings' other options as given). */
export async function measurePeak(
  runtime: Runtime,
  version: string,
  options: LoadOptions,
  budget: PeakBudget = DEFAULT_PEAK_BUDGET,
): Promise<DevicePeak> {
  const bySize: Record<string, number> = {};
  for (const n of MATMUL_SIZES) {
    const ms = await timeModel(
      runtime,
      matmulModel(n),
      options,
      { a: { data: randomFloats(n * n, n), dims: [n, n] }, b: { data: randomFloats(n * n, n + 1), dims: [n, n] } },
      budget,
    );
    bySize[String(n)] = round((2 * n ** 3) / (ms * 1e6), 2);
    // Larger sizes would take seconds per run here and are already big enough to show the peak.
    if (ms > SLOW_RUN_MS) break;
  }
  const N = bandwidthElements();
  const ms = await timeModel(
    runtime,
    bandwidthModel(N),
    options,
    { x: { data: randomFloats(N, 7), dims: [N] }, s: { data: Float32Array.of(0.5), dims: [1] } },
    budget,
  );
  return {
    runtime: runtime.name,
    runtime_version: version,
    threads: options.threads,
    matmul_gflops: Math.max(...Object.values(bySize)),
    matmul_by_size: bySize,
    bandwidth_gbs: round(bandwidthBytes(N) / (ms * 1e6), 2),
    measured_at: new Date().toISOString(),
  };
}

function round(x: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}
