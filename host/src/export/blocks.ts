/**
 * The parts of the model around the SSM, shared by conv mode (tensors [batch, L, H]) and step mode
 * ([batch, H]): encoder, norms, GELU → Linear(H→2H) → GLU, pooling's decoder. Channels are always last.
 * Work is declared per batch element, `positions` = L in conv mode and 1 in step mode. Norm nodes are tagged
 * section 'norm', the GELU → Linear → GLU nodes 'mixing'; encoder, residual and decoder stay 'other'.
 */
import type { ModelConfig } from '../model/config.js';
import { LAYER_NORM_EPS } from '../model/layers.js';
import { DTYPE, float, type GraphBuilder } from './onnx-builder.js';

export type Snapshot = Map<string, { shape: number[]; values: Float32Array }>;

/**
 * Arithmetic of the Linears around the SSM (encoder, mixing, decoder). int8: weights quantised at export,
 * activations at run time (DynamicQuantizeLinear → MatMulInteger → Cast → Mul by the scales); int8-qdq: the
 * same numbers written as DequantizeLinear on both operands of a float MatMul, left to onnxruntime to fuse
 * (kept for scripts/bench/int8.ts: measured no faster, see docs/onnx-export.md).
 */
export type Arithmetic = 'float32' | 'int8' | 'int8-qdq';

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
export function encoder(
  b: GraphBuilder,
  snap: Snapshot,
  c: ModelConfig,
  x: string,
  positions: number,
  arithmetic: Arithmetic = 'float32',
): string {
  if (c.inputKind === 'tokens') return b.op('Gather', [init(b, snap, 'encoder.weight'), x], { axis: 0 });
  if (arithmetic !== 'float32') {
    b.work(positions * (2 * c.inputSize * c.dModel + c.dModel));
    const w = weight(snap, 'encoder.weight');
    const h = quantizedMatMul(b, x, 'encoder', w.values, c.inputSize, c.dModel, arithmetic);
    return b.op('Add', [h, init(b, snap, 'encoder.bias')]);
  }
  const h = b.op('MatMul', [x, init(b, snap, 'encoder.weight')]);
  b.work(positions * (2 * c.inputSize * c.dModel + c.dModel));
  return b.op('Add', [h, init(b, snap, 'encoder.bias')]);
}

/**
 * x [..., K] · W [K, N] (row-major) with W quantised here and x at run time; float32 result, no bias.
 * Weights: int8, symmetric (zero point 0, so MatMulInteger needs no b_zero_point), one scale per output
 * column; activations: uint8 with DynamicQuantizeLinear's per-tensor scale and zero point. uint8 × int8 is
 * what onnxruntime's CPU kernels (MLAS) and its quantize_dynamic default take the fast path on.
 */
export function quantizedMatMul(
  b: GraphBuilder,
  x: string,
  name: string,
  W: Float32Array,
  K: number,
  N: number,
  arithmetic: Exclude<Arithmetic, 'float32'>,
): string {
  const { q, scale } = quantizeColumns(W, K, N);
  const [xq, xScale, xZero] = b.node('DynamicQuantizeLinear', [x], {}, 3) as [string, string, string];
  const wq = b.initI8(`${name}.weight_quantized`, q, [K, N]);
  const wScale = b.initF32(`${name}.weight_scale`, scale, [N]);
  if (arithmetic === 'int8-qdq') {
    const xf = b.op('DequantizeLinear', [xq, xScale, xZero]);
    const wf = b.op('DequantizeLinear', [wq, wScale], { axis: 1 });
    return b.op('MatMul', [xf, wf]);
  }
  // The order of onnxruntime's quantize_dynamic (Cast, then Mul by x_scale · w_scale), which its CPU
  // graph optimizer fuses into one DynamicQuantizeMatMul / MatMulIntegerToFloat.
  const acc = b.op('MatMulInteger', [xq, wq, xZero]);
  return b.op('Mul', [b.op('Cast', [acc], { to: DTYPE.float32 }), b.op('Mul', [xScale, wScale])]);
}

/** Symmetric per-column int8: scale_n = max_k |W[k, n]| / 127 (1 for an all-zero column), q = round(W / scale). */
export function quantizeColumns(W: ArrayLike<number>, K: number, N: number): { q: Int8Array; scale: Float32Array } {
  if (W.length !== K * N) throw new Error(`quantize: ${W.length} weights for [${K}, ${N}]`);
  const scale = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(W[k * N + n]!));
    scale[n] = m > 0 ? m / 127 : 1;
  }
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++)
    for (let n = 0; n < N; n++) q[k * N + n] = Math.max(-127, Math.min(127, Math.round(W[k * N + n]! / scale[n]!)));
  return { q, scale };
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
  arithmetic: Arithmetic = 'float32',
): string {
  return b.within('mixing', () => mixerNodes(b, snap, c, i, y, order, positions, arithmetic));
}

function mixerNodes(
  b: GraphBuilder,
  snap: Snapshot,
  c: ModelConfig,
  i: number,
  y: string,
  order: Int32Array | null,
  positions: number,
  arithmetic: Arithmetic,
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
    if (arithmetic !== 'float32') {
      const m = quantizedMatMul(b, g, name, rows, H, H, arithmetic);
      return b.op('Add', [m, b.initF32(`${name}.bias`, bias.subarray(k * H, (k + 1) * H), [H])]);
    }
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
export function decoder(
  b: GraphBuilder,
  snap: Snapshot,
  c: ModelConfig,
  pooled: string,
  name?: string,
  arithmetic: Arithmetic = 'float32',
): string {
  b.work(2 * c.dModel * c.numClasses + c.numClasses);
  if (arithmetic !== 'float32') {
    const w = weight(snap, 'decoder.weight');
    const m = quantizedMatMul(b, pooled, 'decoder', w.values, c.dModel, c.numClasses, arithmetic);
    return b.op('Add', [m, init(b, snap, 'decoder.bias')], {}, name);
  }
  return b.op('Gemm', [pooled, init(b, snap, 'decoder.weight'), init(b, snap, 'decoder.bias')], {}, name);
}
