/**
 * Minimal builder of tiny, real ONNX files for tests and benchmarks (not the project's exporter, which
 * lives in host/src/export/). Protobuf encoding comes from `onnx-proto`, generated from the official
 * onnx.proto, so the bytes are what onnxruntime parses in production.
 */
import { createRequire } from 'node:module';
import type { onnx as OnnxNs } from 'onnx-proto';

// onnx-proto is CommonJS; its named export is the `onnx` namespace.
const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNs };

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const STRING = onnx.TensorProto.DataType.STRING;
const INT64 = onnx.TensorProto.DataType.INT64;

type Dim = number | string;

function valueInfo(name: string, elemType: number, dims: Dim[]): OnnxNs.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Deterministic small weights (xorshift32 from `seed`, no RNG dependency), uniform in ±0.5/√rows. */
function weights(name: string, rows: number, cols: number, seed: number): OnnxNs.ITensorProto {
  const data = new Float32Array(rows * cols);
  let s = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    data[i] = ((s >>> 0) / 2 ** 32 - 0.5) / Math.sqrt(rows);
  }
  return { name, dims: [rows, cols], dataType: FLOAT, rawData: new Uint8Array(data.buffer) };
}

function encode(graph: OnnxNs.IGraphProto, opset = 13): Uint8Array {
  const model: OnnxNs.IModelProto = {
    irVersion: 8,
    producerName: 's4op-test',
    opsetImport: [{ domain: '', version: opset }],
    graph,
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export interface MlpOptions {
  /** Features in and out of each layer. */
  width: number;
  /** Number of MatMul+Add+Relu layers. */
  layers: number;
  /** Batch dimension: a number, or a name to make it dynamic. */
  batch?: Dim;
  /** Varies the weights, so models of the same shape get different bytes (and hashes). */
  seed?: number;
}

/** A MatMul → Add → Relu chain on float32 input `x` [batch, width] → output `y`. */
export function mlpModel({ width, layers, batch = 1, seed = 0 }: MlpOptions): Uint8Array {
  const nodes: OnnxNs.INodeProto[] = [];
  const init: OnnxNs.ITensorProto[] = [];
  let prev = 'x';
  for (let l = 0; l < layers; l++) {
    init.push(weights(`w${l}`, width, width, l + 1 + seed * 1000));
    init.push(weights(`b${l}`, 1, width, l + 101 + seed * 1000));
    const out = l === layers - 1 ? 'y' : `h${l}`;
    nodes.push({ opType: 'MatMul', input: [prev, `w${l}`], output: [`m${l}`], name: `matmul${l}` });
    nodes.push({ opType: 'Add', input: [`m${l}`, `b${l}`], output: [`a${l}`], name: `add${l}` });
    nodes.push({ opType: 'Relu', input: [`a${l}`], output: [out], name: `relu${l}` });
    prev = out;
  }
  return encode({
    name: 'mlp',
    node: nodes,
    initializer: init,
    input: [valueInfo('x', FLOAT, [batch, width])],
    output: [valueInfo('y', FLOAT, [batch, width])],
  });
}

/** About `megabytes` of float32 weights: 256-wide layers (256 KiB each). */
export function mlpModelOfSize(megabytes: number, seed = 0): Uint8Array {
  const layers = Math.max(1, Math.round((megabytes * 2 ** 20) / (256 * 256 * 4)));
  return mlpModel({ width: 256, layers, seed });
}

/** Identity over a string tensor: its input cannot be synthesised as numbers. */
export function stringInputModel(): Uint8Array {
  return encode({
    name: 'strings',
    node: [{ opType: 'Identity', input: ['s'], output: ['t'] }],
    input: [valueInfo('s', STRING, [1, 3])],
    output: [valueInfo('t', STRING, [1, 3])],
  });
}

/** Float input plus an int64 input (synthesised as small non-negative integers). */
export function mixedInputModel(): Uint8Array {
  return encode({
    name: 'mixed',
    node: [
      {
        opType: 'Cast',
        input: ['k'],
        output: ['kf'],
        attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
      },
      { opType: 'Add', input: ['x', 'kf'], output: ['y'] },
    ],
    input: [valueInfo('x', FLOAT, ['batch', 4]), valueInfo('k', INT64, ['batch', 4])],
    output: [valueInfo('y', FLOAT, ['batch', 4])],
  });
}

/**
 * A model whose declared input shape disagrees with what its graph computes: it loads, then every run
 * fails inside the runtime (Reshape to a size the input does not have).
 */
export function badShapeModel(): Uint8Array {
  const shape: OnnxNs.ITensorProto = { name: 'shape', dims: [2], dataType: INT64, int64Data: [7, 5] };
  return encode({
    name: 'bad-shape',
    node: [{ opType: 'Reshape', input: ['x', 'shape'], output: ['y'] }],
    initializer: [shape],
    input: [valueInfo('x', FLOAT, [1, 4])],
    output: [valueInfo('y', FLOAT, [7, 5])],
  });
}

/**
 * An Add of input `x` [1, n] and an initializer whose bytes live in an external file at `location`
 * (relative to onnxruntime's working directory): the shape of a model that reads the board's files.
 */
export function externalDataModel(location = 'etc/passwd', n = 4): Uint8Array {
  const w: OnnxNs.ITensorProto = {
    name: 'w',
    dims: [1, n],
    dataType: FLOAT,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(n * 4) },
    ],
  };
  return encode({
    name: 'external',
    node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'], name: 'add' }],
    initializer: [w],
    input: [valueInfo('x', FLOAT, [1, n])],
    output: [valueInfo('y', FLOAT, [1, n])],
  });
}
