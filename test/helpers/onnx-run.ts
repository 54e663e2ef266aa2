/**
 * Running an exported model and its host model on the same input, for the parity tests: both onnxruntime
 * flavours by name, a session on the right execution provider, a conv-mode run, a step-mode run over a
 * sequence, and the host's logits.
 */
import * as tf from '@tensorflow/tfjs';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { runStepModel, type StepRun, type TensorClass } from '../../host/src/export/step-runner.js';
import type { StepState } from '../../host/src/export/step.js';
import type { SequenceModel } from '../../host/src/model/model.js';

export type Ort = typeof ortNode;

export const RUNTIMES: [string, Ort][] = [
  ['onnxruntime-node', ortNode],
  ['onnxruntime-web', ortWeb as unknown as Ort],
];

/** A session of `bytes` in `ort` (CPU provider for onnxruntime-node, WASM for onnxruntime-web). */
export function ortSession(ort: Ort, bytes: Uint8Array) {
  return ort.InferenceSession.create(bytes, { executionProviders: [ort === ortNode ? 'cpu' : 'wasm'] });
}

/** Logits of a conv-mode export for continuous input x [batch, L, inputSize] (L from x's length). */
export async function runConv(
  ort: Ort,
  bytes: Uint8Array,
  x: Float32Array,
  batch: number,
  inputSize: number,
): Promise<Float32Array> {
  const s = await ortSession(ort, bytes);
  try {
    const out = await s.run({ x: new ort.Tensor('float32', x, [batch, x.length / batch / inputSize, inputSize]) });
    return out.logits!.data as Float32Array;
  } finally {
    await s.release();
  }
}

/** The host model's logits (inference mode) for x [batch, length, inputSize]. */
export function hostLogits(model: SequenceModel, x: Float32Array, batch: number, length: number): Float32Array {
  return tf.tidy(
    () =>
      model
        .forward(tf.tensor3d(x, [batch, length, model.config.inputSize]), { training: false })
        .dataSync() as Float32Array,
  );
}

/** A step-mode export run over continuous x [batch, length, inputSize] from zero states (runStepModel). */
export async function runStep(
  ort: Ort,
  exported: { bytes: Uint8Array; states: StepState[] },
  x: Float32Array,
  batch: number,
  length: number,
  inputSize: number,
): Promise<StepRun> {
  const s = await ortSession(ort, exported.bytes);
  try {
    return await runStepModel(s as never, ort.Tensor as unknown as TensorClass, exported.states, {
      batch,
      length,
      x,
      inputSize,
    });
  } finally {
    await s.release();
  }
}
