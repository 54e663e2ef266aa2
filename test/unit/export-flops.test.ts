/**
 * The work an export declares (GraphBuilder.work, per batch element, split SSM / rest) against the
 * arithmetic of the nodes it really emitted, counted here from the graph itself: every intermediate tensor
 * is made a graph output, the model runs once in onnxruntime-node at batch 1, and each node's FLOPs follow
 * from the shapes it saw. The rule, one place for both sections:
 *   MatMul 2·K per output element (K: the shared dimension; Toeplitz zeros included, the MatMul does them);
 *   Gemm the same plus one per output for the bias; Conv 2·taps·(inputs per group) per output;
 *   Add/Sub/Mul/Div one per output element; Sum (inputs − 1) per output element;
 *   ReduceSum one per input element less one per output, ReduceMean one per input element; CumSum one per
 *   element; DFT 2.5·n·log2(n) per transform of length n;
 *   LayerNormalization 8, Gelu 8, Sigmoid 4 per output element (mean, centring, square, variance, scale by
 *   1/σ, γ, β; erf- and exp-based activations as a few operations each);
 *   data movement (Transpose, Reshape, Gather, Concat, Split, Slice, Pad, Unsqueeze, Expand, Scatter, Cast…) 0.
 */
import { createRequire } from 'node:module';
import type { onnx as OnnxNs } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { exportModel, type ExportOptions } from '../../host/src/export/export.js';
import { decodeModel } from '../../host/src/export/onnx-builder.js';
import type { ModelConfig } from '../../host/src/model/config.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNs };

beforeAll(async () => {
  await initBackend('cpu');
});

const ARITHMETIC = new Set([
  'MatMul',
  'Gemm',
  'Conv',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Sum',
  'ReduceSum',
  'ReduceMean',
  'CumSum',
  'DFT',
  'LayerNormalization',
  'Gelu',
  'Sigmoid',
]);
const ZERO_WORK = new Set([
  'Transpose',
  'Reshape',
  'Gather',
  'Concat',
  'Split',
  'Slice',
  'Pad',
  'Unsqueeze',
  'Squeeze',
  'Expand',
  'Shape',
  'ScatterElements',
  'Identity',
  'Cast',
]);

/** FLOPs per section (the node name's prefix before '/'), counted from the shapes every node saw in one batch-1 run. */
async function countedWork(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, number>> {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const known = new Set([
    ...graph.initializer!.map((t) => t.name!),
    ...graph.input!.map((v) => v.name!),
    ...graph.output!.map((v) => v.name!),
  ]);
  const dims = new Map<string, number[]>(graph.initializer!.map((t) => [t.name!, t.dims!.map(Number)]));
  for (const [name, t] of Object.entries(feeds)) dims.set(name, [...t.dims]);
  // Every float tensor an arithmetic node reads or writes becomes an output, so its shape can be read back.
  const probe = new Set<string>();
  for (const n of graph.node!) {
    if (!ARITHMETIC.has(n.opType!)) continue;
    for (const t of [...n.input!, ...n.output!]) if (t && !known.has(t)) probe.add(t);
  }
  // Element types (float32, or float64 inside the prefix variant's carry): from initializers and inputs,
  // then through the nodes in order (Cast sets its `to`, everything else keeps its first input's type).
  const types = new Map<string, number>(graph.initializer!.map((t) => [t.name!, t.dataType!]));
  for (const v of graph.input!) types.set(v.name!, v.type!.tensorType!.elemType!);
  for (const n of graph.node!) {
    const t =
      n.opType === 'Cast'
        ? Number(n.attribute!.find((a) => a.name === 'to')!.i)
        : n.opType === 'Shape'
          ? onnx.TensorProto.DataType.INT64
          : types.get(n.input![0]!);
    for (const o of n.output!) types.set(o, t ?? onnx.TensorProto.DataType.FLOAT);
  }
  for (const name of probe)
    graph.output!.push({
      name,
      type: { tensorType: { elemType: types.get(name) ?? onnx.TensorProto.DataType.FLOAT } },
    });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), {
    executionProviders: ['cpu'],
  });
  const out = await session.run(feeds);
  for (const [name, t] of Object.entries(out)) dims.set(name, [...t.dims]);
  await session.release();

  const size = (name: string) => dims.get(name)!.reduce((a, b) => a * b, 1);
  const work: Record<string, number> = { ssm: 0, mixing: 0, norm: 0, other: 0 };
  for (const n of graph.node!) {
    const op = n.opType!;
    const ins = n.input!.filter((t) => t !== '');
    const o = n.output![0]!;
    let f = 0;
    if (op === 'MatMul') f = 2 * size(o) * dims.get(ins[0]!)!.at(-1)!;
    else if (op === 'Gemm') f = 2 * size(o) * dims.get(ins[0]!)!.at(-1)! + (ins.length > 2 ? size(o) : 0);
    else if (op === 'Conv') {
      const w = dims.get(ins[1]!)!;
      f = 2 * size(o) * w.slice(1).reduce((a, b) => a * b, 1);
    } else if (['Add', 'Sub', 'Mul', 'Div'].includes(op)) f = size(o);
    else if (op === 'Sum') f = (ins.length - 1) * size(o);
    else if (op === 'ReduceMean') f = size(ins[0]!);
    else if (op === 'ReduceSum') f = size(ins[0]!) - size(o);
    else if (op === 'CumSum') f = size(o);
    else if (op === 'DFT') {
      const d = dims.get(o)!;
      const axis = Number(out[ins[2]!]?.data[0] ?? 2);
      const n = Number(
        graph.initializer!.find((t) => t.name === ins[1])!.rawData!.length === 8
          ? new BigInt64Array(Uint8Array.from(graph.initializer!.find((t) => t.name === ins[1])!.rawData!).buffer)[0]!
          : 0,
      );
      f = (size(o) / (d[axis]! * d.at(-1)!)) * 2.5 * n * Math.log2(n);
    } else if (op === 'LayerNormalization' || op === 'Gelu') f = 8 * size(o);
    else if (op === 'Sigmoid') f = 4 * size(o);
    else if (!ZERO_WORK.has(op)) throw new Error(`no FLOP rule for ${op}`);
    const section = n.name!.includes('/') ? n.name!.split('/')[0]! : 'other';
    if (!(section in work)) throw new Error(`node ${n.name} has an unknown section prefix`);
    work[section]! += f;
  }
  return work;
}

function feedsFor(cfg: ModelConfig, L: number): Record<string, ort.Tensor> {
  if (cfg.inputKind === 'tokens') {
    return {
      tokens: new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: L }, (_, i) => BigInt(i % cfg.inputSize)),
        [1, L],
      ),
    };
  }
  const n = L * cfg.inputSize;
  return {
    x: new ort.Tensor(
      'float32',
      Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
      [1, L, cfg.inputSize],
    ),
  };
}

function pruned(cfg: ModelConfig, keep: number): SequenceModel {
  const model = new SequenceModel(cfg, 3);
  for (let i = 0; i < cfg.nLayers; i++)
    model.setActive(
      i,
      Array.from({ length: keep }, (_, k) => (3 * k + i) % cfg.dModel),
    );
  return model;
}

const L = 40;
const CASES: [string, ModelConfig, number, ExportOptions][] = [
  [
    'S4D chunked (three blocks, padded), unpruned',
    tinyConfig({ dModel: 8, dState: 8 }),
    8,
    { mode: 'conv', variant: 'chunked', length: L, variantOptions: { block: 16 } },
  ],
  [
    'S4D chunked, pruned, fold bypass',
    tinyConfig({ dModel: 8, dState: 8 }),
    3,
    { mode: 'conv', variant: 'chunked', length: L, bypass: 'fold' },
  ],
  [
    'S4D chunked, pruned, scatter bypass',
    tinyConfig({ dModel: 8, dState: 8 }),
    3,
    { mode: 'conv', variant: 'chunked', length: L, bypass: 'scatter', variantOptions: { block: 8 } },
  ],
  [
    'bidirectional S4D chunked',
    tinyConfig({ dModel: 8, dState: 8, bidirectional: true }),
    5,
    { mode: 'conv', variant: 'chunked', length: L, variantOptions: { block: 16 } },
  ],
  [
    'S4 chunked (dense scan)',
    tinyConfig({ ssm: 's4', dModel: 8, dState: 8 }),
    6,
    { mode: 'conv', variant: 'chunked', length: L, variantOptions: { block: 16 } },
  ],
  [
    'S4D prefix (two segments of 20 blocks), unpruned',
    tinyConfig({ dModel: 8, dState: 8 }),
    8,
    { mode: 'conv', variant: 'prefix', length: L, variantOptions: { block: 1 } },
  ],
  [
    'S4D prefix, default block, pruned, scatter bypass',
    tinyConfig({ dModel: 8, dState: 8 }),
    3,
    { mode: 'conv', variant: 'prefix', length: L, bypass: 'scatter', variantOptions: { block: 6 } },
  ],
  [
    'bidirectional S4D prefix',
    tinyConfig({ dModel: 8, dState: 8, bidirectional: true }),
    5,
    { mode: 'conv', variant: 'prefix', length: L, variantOptions: { block: 16 } },
  ],
  [
    'S4D scan (14 blocks of 3, padded: four levels), unpruned',
    tinyConfig({ dModel: 8, dState: 8 }),
    8,
    { mode: 'conv', variant: 'scan', length: L, variantOptions: { block: 3 } },
  ],
  [
    'bidirectional S4D scan, pruned, scatter bypass',
    tinyConfig({ dModel: 8, dState: 8, bidirectional: true }),
    3,
    { mode: 'conv', variant: 'scan', length: L, bypass: 'scatter', variantOptions: { block: 8 } },
  ],
  [
    'S4D scan, one block',
    tinyConfig({ dModel: 8, dState: 8 }),
    5,
    { mode: 'conv', variant: 'scan', length: L, variantOptions: { block: 40 } },
  ],
  [
    'S4D toeplitz (14 blocks of 3, padded), unpruned',
    tinyConfig({ dModel: 8, dState: 8 }),
    8,
    { mode: 'conv', variant: 'toeplitz', length: L, variantOptions: { block: 3 } },
  ],
  [
    'bidirectional S4D toeplitz, pruned, scatter bypass',
    tinyConfig({ dModel: 8, dState: 8, bidirectional: true }),
    3,
    { mode: 'conv', variant: 'toeplitz', length: L, bypass: 'scatter' },
  ],
  ['S4 toeplitz', tinyConfig({ ssm: 's4', dModel: 8, dState: 8 }), 5, { mode: 'conv', variant: 'toeplitz', length: L }],
  ['S4D direct', tinyConfig({ dModel: 8, dState: 8 }), 5, { mode: 'conv', variant: 'direct', length: L }],
  ['S4D fft', tinyConfig({ dModel: 8, dState: 8 }), 5, { mode: 'conv', variant: 'fft', length: L }],
  ['S4D step', tinyConfig({ dModel: 8, dState: 8 }), 5, { mode: 'step' }],
  ['S4 step', tinyConfig({ ssm: 's4', dModel: 8, dState: 8 }), 5, { mode: 'step' }],
  ['S4D step, packed', tinyConfig({ dModel: 8, dState: 8 }), 5, { mode: 'step', variant: 'packed' }],
  [
    'S4 step, packed, scatter bypass',
    tinyConfig({ ssm: 's4', dModel: 8, dState: 8 }),
    5,
    { mode: 'step', variant: 'packed', bypass: 'scatter' },
  ],
  [
    'tokens, pre-norm, BatchNorm',
    tinyConfig({ dModel: 8, dState: 8, inputKind: 'tokens', vocabSize: 7, inputSize: 7, prenorm: true, norm: 'batch' }),
    4,
    { mode: 'conv', variant: 'chunked', length: L, variantOptions: { block: 16 } },
  ],
];

describe('declared work is the work of the emitted nodes', () => {
  it.each(CASES)('%s', async (_name, cfg, keep, opts) => {
    const model = pruned(cfg, keep);
    try {
      const r = exportModel(model, opts);
      const feeds = feedsFor(cfg, opts.mode === 'step' ? 1 : L);
      if (opts.mode === 'step') {
        feeds[cfg.inputKind === 'tokens' ? 'tokens' : 'x'] =
          cfg.inputKind === 'tokens'
            ? new ort.Tensor('int64', BigInt64Array.from([1n]), [1])
            : new ort.Tensor(
                'float32',
                Float32Array.from({ length: cfg.inputSize }, (_, i) => 0.5 - i),
                [1, cfg.inputSize],
              );
        for (const st of r.states) {
          const d = st.dims.map((v) => (v === 'batch' ? 1 : v));
          feeds[st.input] = new ort.Tensor(
            'float32',
            Float32Array.from({ length: d.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(i)),
            d,
          );
        }
      }
      const counted = await countedWork(r.bytes, feeds);
      expect(r.stats.flops.ssm).toBeGreaterThan(0);
      expect(r.stats.flops.ssm).toBeCloseTo(counted.ssm, 6);
      expect(r.stats.flops.other).toBeCloseTo(counted.mixing! + counted.norm! + counted.other!, 6);
      for (const section of ['ssm', 'mixing', 'norm', 'other'] as const)
        expect(r.stats.flopsBySection[section]).toBeCloseTo(counted[section]!, 6);
      expect(r.stats.flopsBySection.mixing).toBeGreaterThan(0);
      expect(r.stats.flopsBySection.norm).toBeGreaterThan(0);
      // the agent reads the declared work from the metadata
      expect(JSON.parse(r.metadata.declared_flops_by_section!)).toEqual(r.stats.flopsBySection);
      expect(Number(r.metadata.declared_flops)).toBeCloseTo(
        Object.values(counted).reduce((a, v) => a + v, 0),
        6,
      );
    } finally {
      model.dispose();
    }
  });
});
