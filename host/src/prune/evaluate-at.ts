/**
 * A candidate's validation and test figures at its export precision: the host model's for float32, and the
 * exported ONNX model's own (run by onnxruntime, onnx-eval.ts) for int8, whose MatMuls the host does not
 * quantise.
 */
import type { Dataset } from '../data/dataset.js';
import { exportModel } from '../export/export.js';
import type { SequenceModel } from '../model/model.js';
import type { Precision } from '../store/run-store.js';
import { evaluate, type EvalResult } from '../train/trainer.js';
import { evaluateOnnx } from './onnx-eval.js';

/** Validation and test figures of `model` at `precision` (an int8 model is exported once for both). */
export async function evaluateAt(
  model: SequenceModel,
  data: Dataset,
  precision: Precision,
): Promise<{ val: EvalResult; test: EvalResult }> {
  if (precision === 'float32') return { val: evaluate(model, data.val), test: evaluate(model, data.test) };
  const { bytes } = exportModel(model, { mode: 'conv', length: data.info.length, precision });
  const onnx = async (split: 'val' | 'test'): Promise<EvalResult> => {
    const r = await evaluateOnnx(bytes, data, split);
    return { metric: r.accuracy, loss: r.loss ?? Number.NaN, count: r.count };
  };
  return { val: await onnx('val'), test: await onnx('test') };
}
