/**
 * A candidate's accuracy as its exported ONNX model computes it (not the float host model's): a conv-mode
 * export run over a dataset split in batches, in the agent's runtimes (onnxruntime-node where its binary
 * loads, else onnxruntime-web). This is the accuracy of a quantised candidate.
 */
import type { RuntimeName } from '@s4op/shared';
import type { Dataset } from '../data/dataset.js';

export interface OnnxEvalOptions {
  /** Examples per run (default 64); a fixed batch dimension in the model overrides it. */
  batchSize?: number;
  /** A runtime of the agent's registry; default the first available by priority. */
  runtime?: RuntimeName;
  /** Intra-op (native) or WASM threads; default 1. */
  threads?: number;
}

export interface OnnxEvalResult {
  /** Accuracy (single-label) or per-label accuracy at threshold 0.5 (multi-label): the metric of train's `evaluate`. */
  accuracy: number;
  /** Mean cross-entropy (softmax; sigmoid for multi-label), the loss of the host model. */
  loss?: number;
  count: number;
  /** The runtime that ran the model. */
  runtime: RuntimeName;
}

export async function evaluateOnnx(
  bytes: Uint8Array,
  dataset: Dataset,
  split: 'train' | 'val' | 'test' = 'test',
  opts: OnnxEvalOptions = {},
): Promise<OnnxEvalResult> {
  const data = dataset[split];
  if (!data) throw new Error(`evaluateOnnx: unknown split "${String(split)}"; expected train, val or test`);
  const info = dataset.info;
  // Loaded here, not at the top: the agent's runtimes are only needed by the programs that evaluate.
  const { RUNTIMES, runtimeByName } = await import('@s4op/agent');
  const runtime = opts.runtime ? runtimeByName(opts.runtime) : await firstAvailable(RUNTIMES);
  const session = await runtime.load(bytes, {
    threads: opts.threads ?? 1,
    graph_optimization: 'all',
    arena: true,
  });
  try {
    const inputs = session.inputs();
    const want = info.inputKind === 'tokens' ? 'tokens' : 'x';
    const input = inputs.find((i) => i.name === want);
    if (!input || inputs.length !== 1) {
      throw new Error(
        `evaluateOnnx needs a conv-mode export with the one input "${want}" (${info.inputKind} data); the model has ${inputs.map((i) => i.name).join(', ')}`,
      );
    }
    const fixedBatch = typeof input.shape[0] === 'number' && input.shape[0] > 0 ? input.shape[0] : undefined;
    if (input.shape[1] !== info.length) {
      throw new Error(
        `evaluateOnnx: the model takes sequences of ${String(input.shape[1])}, the dataset has ${info.length}`,
      );
    }
    const batchSize = fixedBatch ?? opts.batchSize ?? 64;
    const C = info.numClasses;
    let correct = 0;
    let units = 0;
    let lossSum = 0;
    let count = 0;
    for (const batch of data.batches(batchSize)) {
      const n = batch.size;
      let x: Float32Array | Int32Array;
      let y: Float32Array | Int32Array;
      try {
        x = batch.x.dataSync() as Float32Array | Int32Array;
        y = batch.y.dataSync() as Float32Array | Int32Array;
      } finally {
        batch.x.dispose();
        batch.y.dispose();
      }
      // A fixed batch dimension: the last, smaller batch is padded with zeros and its padding ignored.
      const rows = fixedBatch ?? n;
      const perRow = x.length / n;
      const dims = info.inputKind === 'tokens' ? [rows, info.length] : [rows, info.length, info.inputSize];
      const feed =
        info.inputKind === 'tokens'
          ? {
              dtype: 'int64',
              data: padded(
                BigInt64Array.from(x, (v) => BigInt(v)),
                rows * perRow,
              ),
              dims,
            }
          : { dtype: 'float32', data: padded(Float32Array.from(x), rows * perRow), dims };
      const out = await session.infer({ [want]: feed });
      const logits = out.logits?.data as Float32Array | undefined;
      if (!logits || logits.length !== rows * C)
        throw new Error(`evaluateOnnx: the model's output "logits" is not [batch, ${C}]`);
      for (let r = 0; r < n; r++) {
        const row = logits.subarray(r * C, (r + 1) * C);
        if (info.multiLabel) {
          for (let k = 0; k < C; k++) {
            const t = y[r * C + k]! > 0.5;
            if (row[k]! > 0 === t) correct++;
            // Sigmoid cross-entropy, stable form: max(z, 0) − z·t + log(1 + e^−|z|).
            const z = row[k]!;
            lossSum += (Math.max(z, 0) - (t ? z : 0) + Math.log1p(Math.exp(-Math.abs(z)))) / C;
          }
          units += C;
        } else {
          const label = y[r]!;
          let best = 0;
          let max = -Infinity;
          for (let k = 0; k < C; k++) {
            if (row[k]! > max) {
              max = row[k]!;
              best = k;
            }
          }
          let sum = 0;
          for (let k = 0; k < C; k++) sum += Math.exp(row[k]! - max);
          lossSum += Math.log(sum) + max - row[label]!;
          if (best === label) correct++;
          units++;
        }
      }
      count += n;
    }
    return {
      accuracy: units ? correct / units : NaN,
      loss: count ? lossSum / count : undefined,
      count,
      runtime: runtime.name,
    };
  } finally {
    await session.dispose();
  }
}

async function firstAvailable<R extends { name: RuntimeName; available(): Promise<{ ok: boolean }> }>(
  runtimes: readonly R[],
): Promise<R> {
  for (const r of runtimes) if ((await r.available()).ok) return r;
  throw new Error(`evaluateOnnx: no onnxruntime is available (${runtimes.map((r) => r.name).join(', ')})`);
}

function padded<T extends Float32Array | BigInt64Array>(data: T, length: number): T {
  if (data.length === length) return data;
  const out = new (data.constructor as new (n: number) => T)(length);
  out.set(data as never);
  return out;
}
