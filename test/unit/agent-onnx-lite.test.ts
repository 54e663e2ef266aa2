/**
 * The agent's own bit of ONNX: metadata read from an S4oP export without the host's protobuf library, the
 * peak models it writes from bytes run in onnxruntime and compute what they say, and the profile summary.
 */
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { OnnxParseError, bandwidthModel, matmulModel, readMetadata } from '../../agent/src/onnx-lite.js';
import { declaredWork } from '../../agent/src/measure/declared.js';
import { sectionOf, summariseTrace } from '../../agent/src/measure/profile.js';
import { initBackend } from '../../host/src/backend.js';
import { exportModel } from '../../host/src/export/export.js';
import { decodeModel } from '../../host/src/export/onnx-builder.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('onnx-lite', () => {
  it("reads an export's metadata as the exporter wrote it, and finds its declared work", () => {
    const model = new SequenceModel(tinyConfig({ dModel: 8, dState: 4 }), 1);
    try {
      const r = exportModel(model, { mode: 'conv', length: 16, batch: 3 });
      const meta = readMetadata(r.bytes);
      expect(meta).toEqual(r.metadata);
      const w = declaredWork(r.bytes, [{ name: 'x', shape: [3, 16, 2] }])!;
      expect(w.flops).toBe(Number(r.metadata.declared_flops));
      expect(w.by_section).toEqual(r.stats.flopsBySection);
      expect(w.batch).toBe(3);
    } finally {
      model.dispose();
    }
  });

  it('finds no declared work in a foreign model, and refuses bytes that are not protobuf', () => {
    expect(readMetadata(mlpModel({ width: 4, layers: 1 }))).toEqual({});
    expect(declaredWork(mlpModel({ width: 4, layers: 1 }), [{ name: 'x', shape: [1, 4] }])).toBeNull();
    expect(() => readMetadata(Uint8Array.from([0x0a, 0x20, 1, 2]))).toThrow(OnnxParseError);
    expect(declaredWork(Uint8Array.from([0x0a, 0x20, 1, 2]), [])).toBeNull();
  });

  it('writes MatMul and Mul + ReduceSum models that onnxruntime loads and computes correctly', async () => {
    const n = 3;
    expect(decodeModel(matmulModel(n)).graph!.node![0]!.opType).toBe('MatMul');
    const mm = await ort.InferenceSession.create(matmulModel(n));
    const a = Float32Array.from({ length: 9 }, (_, i) => i + 1);
    const eye = Float32Array.from({ length: 9 }, (_, i) => (i % 4 === 0 ? 2 : 0));
    const y = (await mm.run({ a: new ort.Tensor('float32', a, [n, n]), b: new ort.Tensor('float32', eye, [n, n]) })).y!;
    expect(Array.from(y.data as Float32Array)).toEqual(Array.from(a, (v) => 2 * v));
    const sc = await ort.InferenceSession.create(bandwidthModel(5));
    const z = (
      await sc.run({
        x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4, 5), [5]),
        s: new ort.Tensor('float32', Float32Array.of(0.5), [1]),
      })
    ).y!;
    expect(Array.from(z.data as Float32Array)).toEqual([7.5]);
    expect(z.dims).toEqual([1]);
    await mm.release();
    await sc.release();
  });
});

describe('profile summary', () => {
  const run = (ts: number, dur: number) => ({ cat: 'Session', name: 'model_run', ts, dur });
  const node = (name: string, op: string, ts: number, dur: number) => ({
    cat: 'Node',
    name: `${name}_kernel_time`,
    ts,
    dur,
    args: { op_name: op },
  });

  it('skips warm-up runs, takes each node’s median per run, and sums by op type and section', () => {
    const events = [
      run(0, 1000),
      node('ssm/MatMul', 'MatMul', 10, 900), // warm-up: skipped
      run(2000, 500),
      node('ssm/MatMul', 'MatMul', 2010, 200),
      node('mixing/Gelu', 'Gelu', 2300, 100),
      node('logits_out', 'Identity', 2450, 10),
      run(3000, 600),
      node('ssm/MatMul', 'MatMul', 3010, 300),
      node('mixing/Gelu', 'Gelu', 3400, 100),
      node('logits_out', 'Identity', 3550, 10),
      run(4000, 700),
      node('ssm/MatMul', 'MatMul', 4010, 250),
      node('mixing/Gelu', 'Gelu', 4300, 50),
      node('mixing/Gelu', 'Gelu', 4400, 50),
      node('logits_out', 'Identity', 4650, 10),
    ];
    const p = summariseTrace(events, 1, true);
    expect(p.runs).toBe(3);
    expect(p.run_ms).toBeCloseTo(0.6, 9);
    expect(p.by_op_type).toEqual({ MatMul: 0.25, Gelu: 0.1, Identity: 0.01 });
    expect(p.by_section).toEqual({ ssm: 0.25, mixing: 0.1, norm: 0, other: 0.01 });
    expect(p.kernel_ms).toBeCloseTo(0.36, 9);
    expect(summariseTrace(events, 1, false).by_section).toBeNull();
    expect(() => summariseTrace(events, 4, true)).toThrow(/no model runs/);
  });

  it('reads the section from the node-name prefix', () => {
    expect(sectionOf('ssm/MatMul_4')).toBe('ssm');
    expect(sectionOf('norm/LayerNormalization')).toBe('norm');
    expect(sectionOf('mixing/Gelu_2')).toBe('mixing');
    expect(sectionOf('other/Add')).toBe('other');
    expect(sectionOf('logits_out')).toBe('other');
    expect(sectionOf('weird/Add')).toBe('other');
  });
});
