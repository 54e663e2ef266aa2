/**
 * Runs an exported step-mode model over a whole sequence: zero states, one `run` per time step, each step's
 * `<state>_next` outputs fed back as the next step's `<state>` inputs. Works with any onnxruntime flavour
 * (node or web): pass its InferenceSession and its Tensor class.
 */
import type { StepState } from './step.js';

export interface StepTensor {
  data: unknown;
  dims: readonly number[];
}
export interface StepSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, StepTensor>>;
}
export type TensorClass = new (
  type: 'float32' | 'int64',
  data: Float32Array | BigInt64Array,
  dims: readonly number[],
) => unknown;

export interface StepSequence {
  batch: number;
  length: number;
  /** Continuous input [batch, length, inputSize], row-major. */
  x?: Float32Array;
  inputSize?: number;
  /** Token ids [batch, length]. */
  tokens?: ArrayLike<number | bigint>;
}

export interface StepRun {
  /** Running logits after each step: logits[t] is [batch, classes]. */
  logits: Float32Array[];
  /** Final states by input name. */
  states: Record<string, Float32Array>;
}

export async function runStepModel(
  session: StepSession,
  Tensor: TensorClass,
  states: StepState[],
  seq: StepSequence,
): Promise<StepRun> {
  const { batch: B, length: L } = seq;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(L) || L < 1)
    throw new Error(`runStepModel: batch and length must be positive integers, got ${B}, ${L}`);
  const feeds: Record<string, unknown> = {};
  const current: Record<string, Float32Array> = {};
  for (const s of states) {
    const dims = s.dims.map((d) => (d === 'batch' ? B : d));
    current[s.input] = new Float32Array(dims.reduce((a, b) => a * b, 1));
    feeds[s.input] = new Tensor('float32', current[s.input]!, dims);
  }
  const logits: Float32Array[] = [];
  for (let t = 0; t < L; t++) {
    if (seq.x) {
      const D = seq.inputSize ?? 1;
      if (seq.x.length !== B * L * D)
        throw new Error(`runStepModel: x has ${seq.x.length} values, expected batch·length·inputSize = ${B * L * D}`);
      const xt = new Float32Array(B * D);
      for (let b = 0; b < B; b++) xt.set(seq.x.subarray((b * L + t) * D, (b * L + t + 1) * D), b * D);
      feeds.x = new Tensor('float32', xt, [B, D]);
    } else if (seq.tokens) {
      const tt = BigInt64Array.from({ length: B }, (_, b) => BigInt(seq.tokens![b * L + t]!));
      feeds.tokens = new Tensor('int64', tt, [B]);
    } else {
      throw new Error('runStepModel: give x (continuous input) or tokens');
    }
    const out = await session.run(feeds);
    logits.push(Float32Array.from(out.logits!.data as Float32Array));
    for (const s of states) {
      const next = out[s.output];
      if (!next) throw new Error(`runStepModel: the model did not return ${s.output}`);
      current[s.input] = next.data as Float32Array;
      feeds[s.input] = next;
    }
  }
  return { logits, states: current };
}
