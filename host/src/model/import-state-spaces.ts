import { DEFAULT_CONFIG, type ModelConfig } from './config.js';
import { S4D_PARAM_NAMES } from './kinds/s4d.js';
import { SequenceModel } from './model.js';
import { readSafetensors, type StoredTensor } from './safetensors.js';

/**
 * Import of a PyTorch checkpoint laid out as the official state-spaces S4D example model
 * (`example.py`: encoder Linear → S4D layers with LayerNorm → mean pool → decoder), saved as safetensors.
 *
 * | PyTorch key (shape)                                   | s4op parameter (shape)                       |
 * |-------------------------------------------------------|----------------------------------------------|
 * | encoder.weight [H, d_input]                           | encoder.weight [d_input, H] (transposed)     |
 * | encoder.bias [H]                                      | encoder.bias [H]                             |
 * | s4_layers.{i}.kernel.log_dt [H]                       | s4_layers.{i}.kernel.log_dt [H]              |
 * | s4_layers.{i}.kernel.log_A_real [H, N/2]              | s4_layers.{i}.kernel.log_A_real [H, N/2]     |
 * | s4_layers.{i}.kernel.A_imag [H, N/2]                  | s4_layers.{i}.kernel.A_imag [H, N/2]         |
 * | s4_layers.{i}.kernel.C [H, N/2, 2] (view_as_real)     | s4_layers.{i}.kernel.C_re, C_im [H, N/2]     |
 * | s4_layers.{i}.D [H]                                   | s4_layers.{i}.D [H]                          |
 * | s4_layers.{i}.output_linear.0.weight [2H, H, 1] (Conv1d) | s4_layers.{i}.output_linear.weight [H, 2H] (transposed) |
 * | s4_layers.{i}.output_linear.0.bias [2H]               | s4_layers.{i}.output_linear.bias [2H]        |
 * | norms.{i}.weight, norms.{i}.bias [H] (LayerNorm)      | norms.{i}.weight, norms.{i}.bias [H]         |
 * | decoder.weight [classes, H]                           | decoder.weight [H, classes] (transposed)     |
 * | decoder.bias [classes]                                | decoder.bias [classes]                       |
 *
 * The GLU after output_linear keeps PyTorch's order (first half value, second half gate), so no channel
 * permutation is needed. `kernel.log_dt`, `log_A_real`, `A_imag` and `C` sit under `s4_layers.{i}.kernel`
 * exactly as in the example's S4DKernel. Keys with a leading `model.` (Lightning-style) are accepted.
 */
export interface ImportOptions {
  prenorm?: boolean;
  multiLabel?: boolean;
}

function transpose2d(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

export async function importStateSpaces(file: string, opts: ImportOptions = {}): Promise<SequenceModel> {
  const { tensors: raw } = await readSafetensors(file);
  const tensors = new Map<string, StoredTensor>();
  for (const [k, v] of raw) tensors.set(k.replace(/^model\./, ''), v);
  const need = (key: string, rank: number): StoredTensor => {
    const t = tensors.get(key);
    if (!t) throw new Error(`${file}: missing tensor ${key} (expected the state-spaces S4D example layout)`);
    if (t.shape.length !== rank)
      throw new Error(`${file}: tensor ${key} has shape [${t.shape}], expected rank ${rank}`);
    return t;
  };
  const enc = need('encoder.weight', 2);
  const dec = need('decoder.weight', 2);
  const [H, dInput] = enc.shape as [number, number];
  const numClasses = dec.shape[0]!;
  let nLayers = 0;
  while (tensors.has(`s4_layers.${nLayers}.kernel.log_dt`)) nLayers++;
  if (nLayers === 0) throw new Error(`${file}: no s4_layers.{i}.kernel.log_dt tensors found`);
  const C0 = need('s4_layers.0.kernel.C', 3);
  const halfN = C0.shape[1]!;
  const config: ModelConfig = {
    ...DEFAULT_CONFIG,
    ssm: 's4d',
    dModel: H,
    dState: 2 * halfN,
    nLayers,
    inputKind: 'continuous',
    inputSize: dInput,
    numClasses,
    multiLabel: opts.multiLabel ?? false,
    prenorm: opts.prenorm ?? false,
    norm: 'layer',
  };
  const model = new SequenceModel(config);
  try {
    const set = (name: string, values: Float32Array, shape: number[]) => model.params.set(name, values, shape);
    set('encoder.weight', transpose2d(enc.values, H, dInput), [dInput, H]);
    set('encoder.bias', need('encoder.bias', 1).values, [H]);
    for (let i = 0; i < nLayers; i++) {
      const k = `s4_layers.${i}.kernel`;
      // Their names (the file's format) on the left, ours (the S4D kind's) on the right.
      const ours = (field: keyof typeof S4D_PARAM_NAMES) => `${k}.${S4D_PARAM_NAMES[field]}`;
      set(ours('logDt'), need(`${k}.log_dt`, 1).values, [H]);
      set(ours('logAReal'), need(`${k}.log_A_real`, 2).values, [H, halfN]);
      set(ours('aImag'), need(`${k}.A_imag`, 2).values, [H, halfN]);
      const C = need(`${k}.C`, 3);
      if (C.shape[2] !== 2) throw new Error(`${file}: ${k}.C must be the real view [H, N/2, 2], got [${C.shape}]`);
      const re = new Float32Array(H * halfN);
      const im = new Float32Array(H * halfN);
      for (let j = 0; j < H * halfN; j++) {
        re[j] = C.values[2 * j]!;
        im[j] = C.values[2 * j + 1]!;
      }
      set(ours('cRe'), re, [H, halfN]);
      set(ours('cIm'), im, [H, halfN]);
      set(`s4_layers.${i}.D`, need(`s4_layers.${i}.D`, 1).values, [H]);
      const W = need(`s4_layers.${i}.output_linear.0.weight`, 3);
      if (W.shape[0] !== 2 * H || W.shape[1] !== H || W.shape[2] !== 1) {
        throw new Error(`${file}: s4_layers.${i}.output_linear.0.weight must be [${2 * H}, ${H}, 1], got [${W.shape}]`);
      }
      set(`s4_layers.${i}.output_linear.weight`, transpose2d(W.values, 2 * H, H), [H, 2 * H]);
      set(`s4_layers.${i}.output_linear.bias`, need(`s4_layers.${i}.output_linear.0.bias`, 1).values, [2 * H]);
      set(`norms.${i}.weight`, need(`norms.${i}.weight`, 1).values, [H]);
      set(`norms.${i}.bias`, need(`norms.${i}.bias`, 1).values, [H]);
    }
    set('decoder.weight', transpose2d(dec.values, numClasses, H), [H, numClasses]);
    set('decoder.bias', need('decoder.bias', 1).values, [numClasses]);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
