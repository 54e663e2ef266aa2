/**
 * The parts of the model around the SSM, shared by conv mode (tensors [batch, L, H]) and step mode
 * ([batch, H]): encoder, norms, GELU → Linear(H→2H) → GLU, pooling's decoder. Channels are always last.
 * Work is declared per batch element, `positions` = L in conv mode and 1 in step mode. Norm nodes are tagged
 * section 'norm', the GELU → Linear → GLU nodes 'mixing'; encoder, residual and decoder stay 'other'.
 */
import type { ModelConfig } from '../model/config.js';
import { LAYER_NORM_EPS } from '../model/layers.js';
import { float, type GraphBuilder } from './onnx-builder.js';

export type Snapshot = Map<string, { shape: number[]; values: Float32Array }>;

export function weight(snap: Snapshot, name: string): { shape: number[]; values: Float32Array } {
  const t = snap.get(name);
  if (!t) throw new Error(`export: the model has no parameter ${name}`);
  return t;
}

function init(b: GraphBuilder, snap: Snapshot, name: string): string {
  const t = weight(snap, name);
  return b.initF32(name, t.values, t.shape);
}

/** Continuous x [..., inputSize] → Linear; tokens (int64) → rows of the embedding (the model's one-hot matmul). */
export function encoder(b: GraphBuilder, snap: Snapshot, c: ModelConfig, x: string, positions: number): string {
  if (c.inputKind === 'tokens') return b.op('Gather', [init(b, snap, 'encoder.weight'), x], { axis: 0 });
  const h = b.op('MatMul', [x, init(b, snap, 'encoder.weight')]);
  b.work(positions * (2 * c.inputSize * c.dModel + c.dModel));
  return b.op('Add', [h, init(b, snap, 'encoder.bias')]);
}

/** LayerNorm over channels, or BatchNorm with running statistics (eval) folded into a scale and shift. */
export function norm(b: GraphBuilder, snap: Snapshot, c: ModelConfig, i: number, x: string, positions: number): string {
  return b.within('norm', () => normNodes(b, snap, c, i, x, positions));
}

function normNodes(b: GraphBuilder, snap: Snapshot, c: ModelConfig, i: number, x: string, positions: number): string {
  const w = weight(snap, `norms.${i}.weight`).values;
  const bias = weight(snap, `norms.${i}.bias`).values;
  if (c.norm === 'layer') {
    b.work(positions * c.dModel * 8);
    return b.op('LayerNormalization', [x, init(b, snap, `norms.${i}.weight`), init(b, snap, `norms.${i}.bias`)], {
      axis: -1,
      epsilon: float(LAYER_NORM_EPS),
    });
  }
  const mean = weight(snap, `norms.${i}.running_mean`).values;
  const variance = weight(snap, `norms.${i}.running_var`).values;
  const scale = Float64Array.from(w, (g, h) => g / Math.sqrt(variance[h]! + LAYER_NORM_EPS));
  const shift = Float64Array.from(bias, (s, h) => s - mean[h]! * scale[h]!);
  const H = c.dModel;
  b.work(positions * H * 2);
  return b.op('Add', [
    b.op('Mul', [x, b.initF32(`norms.${i}.scale`, scale, [H])]),
    b.initF32(`norms.${i}.shift`, shift, [H]),
  ]);
}

/**
 * GELU → Linear(H→2H) → GLU on the SSM output `y`, whose channels come in `order` (null: natural): the
 * permutation is folded into the rows of the Linear's weight. The value and gate halves are two MatMuls,
 * which saves splitting a [.., 2H] result (a strided copy).
 */
export function mixer(
  b: GraphBuilder,
  snap: Snapshot,
  c: ModelConfig,
  i: number,
  y: string,
  order: Int32Array | null,
  positions: number,
): string {
  return b.within('mixing', () => mixerNodes(b, snap, c, i, y, order, positions));
}

function mixerNodes(
  b: GraphBuilder,
  snap: Snapshot,
  c: ModelConfig,
  i: number,
  y: string,
  order: Int32Array | null,
  positions: number,
): string {
  const H = c.dModel;
  const W = weight(snap, `s4_layers.${i}.output_linear.weight`).values;
  const bias = weight(snap, `s4_layers.${i}.output_linear.bias`).values;
  const half = (k: 0 | 1) => {
    const rows = new Float32Array(H * H);
    for (let r = 0; r < H; r++) {
      const h = order ? order[r]! : r;
      rows.set(W.subarray(h * 2 * H + k * H, h * 2 * H + (k + 1) * H), r * H);
    }
    const name = `s4_layers.${i}.output_linear.${k ? 'gate' : 'value'}`;
    return b.op('Add', [
      b.op('MatMul', [g, b.initF32(`${name}.weight`, rows, [H, H])]),
      b.initF32(`${name}.bias`, bias.subarray(k * H, (k + 1) * H), [H]),
    ]);
  };
  const g = b.op('Gelu', [y]);
  const value = half(0);
  const gate = half(1);
  b.work(positions * (H * 8 + 2 * H * 2 * H + 2 * H + H * 5));
  return b.op('Mul', [value, b.op('Sigmoid', [gate])]);
}

/**
 * z + h. Written as Sum: onnxruntime fuses Add → LayerNormalization into its contrib SkipLayerNormalization,
 * which measured over 4× slower than Sum + LayerNormalization on x64 (onnxruntime-node 1.30).
 */
export function residual(b: GraphBuilder, c: ModelConfig, z: string, h: string, positions: number): string {
  b.work(positions * c.dModel);
  return b.op('Sum', [z, h]);
}

/** Linear on pooled features [batch, H] → logits [batch, classes]. */
export function decoder(b: GraphBuilder, snap: Snapshot, c: ModelConfig, pooled: string, name?: string): string {
  b.work(2 * c.dModel * c.numClasses + c.numClasses);
  return b.op('Gemm', [pooled, init(b, snap, 'decoder.weight'), init(b, snap, 'decoder.bias')], {}, name);
}
