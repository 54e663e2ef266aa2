/**
 * A small ONNX graph builder over `onnx-proto` (protobufjs code generated from the official onnx.proto):
 * one way to add each thing — inputs, outputs, initializers, nodes, metadata — and `encode()` to bytes.
 * Nodes and initializers carry a section tag ('ssm' for the state-space part of a layer, 'mixing' for
 * GELU → Linear → GLU, 'norm' for the norms, 'other' for the rest), so an export can report how much of the
 * graph the SSM is, and prove that pruned operators are gone. The tag is the node name's prefix before the
 * first '/' (e.g. `ssm/MatMul_4`): onnxruntime's profiler reports node names, so an agent reads the section
 * of each node's time from it.
 */
import { createRequire } from 'node:module';
import type { onnx as OnnxNs } from 'onnx-proto';

// onnx-proto is CommonJS with a non-analysable export; require it rather than import.
const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNs };

export type Dim = number | string;
export type ElemType = 'float32' | 'int64';
export type Section = 'ssm' | 'mixing' | 'norm' | 'other';
export const SECTIONS: readonly Section[] = ['ssm', 'mixing', 'norm', 'other'];

const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
};
/** ONNX TensorProto data type numbers, for Cast's `to` attribute. */
export const DTYPE = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
} as const;
const AT = onnx.AttributeProto.AttributeType;

/** A float attribute (plain numbers are INT attributes). */
export interface FloatAttr {
  float: number;
}
export type AttrValue = number | number[] | string | FloatAttr;

export const float = (x: number): FloatAttr => ({ float: x });

/** IR version 9 (ONNX 1.15) is the first that knows opset 20. */
export const IR_VERSION = 9;

export interface GraphStats {
  nodes: number;
  ssmNodes: number;
  initializerBytes: number;
  ssmInitializerBytes: number;
  /** Node count per op type. */
  ops: Record<string, number>;
  /** Floating-point operations per batch element, as declared by the code that emitted the nodes; `other` is everything but the SSM. */
  flops: { ssm: number; other: number };
  /** The same work split by every section (`flops.other` = mixing + norm + other). */
  flopsBySection: Record<Section, number>;
}

export class GraphBuilder {
  private readonly nodes: OnnxNs.INodeProto[] = [];
  private readonly nodeSections: Section[] = [];
  private readonly inits: OnnxNs.ITensorProto[] = [];
  private readonly initBytes: { bytes: number; section: Section }[] = [];
  private readonly inputs: OnnxNs.IValueInfoProto[] = [];
  private readonly outputs: OnnxNs.IValueInfoProto[] = [];
  private readonly meta: OnnxNs.IStringStringEntryProto[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;
  private readonly flops: Record<Section, number> = { ssm: 0, mixing: 0, norm: 0, other: 0 };
  /** Section that new nodes and initializers are tagged with. */
  section: Section = 'other';

  constructor(
    readonly graphName: string,
    readonly opset: number,
  ) {}

  /** A name not used yet, derived from `base`. */
  fresh(base: string): string {
    let name = base;
    while (this.names.has(name)) name = `${base}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  /** Runs `fn` with new nodes and initializers tagged `section`. */
  within<T>(section: Section, fn: () => T): T {
    const prev = this.section;
    this.section = section;
    try {
      return fn();
    } finally {
      this.section = prev;
    }
  }

  input(name: string, elem: ElemType, dims: Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, elem, dims));
    return name;
  }

  /** Declares `value` (an existing tensor name) a graph output under `name` (an Identity when they differ). */
  output(value: string, name: string, elem: ElemType, dims: Dim[]): string {
    if (value !== name) {
      this.claim(name);
      this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `${name}_out` });
      this.nodeSections.push(this.section);
    }
    this.outputs.push(valueInfo(name, elem, dims));
    return name;
  }

  /** A float32 initializer (values computed in float64 elsewhere are rounded here). */
  initF32(base: string, values: ArrayLike<number>, dims: number[]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    checkSize(base, data.length, dims);
    return this.addInit(base, dims, ELEM.float32, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** A float64 initializer (for intermediate results that need double precision or range). */
  initF64(base: string, values: ArrayLike<number>, dims: number[]): string {
    const data = values instanceof Float64Array ? values : Float64Array.from(values);
    checkSize(base, data.length, dims);
    return this.addInit(
      base,
      dims,
      onnx.TensorProto.DataType.DOUBLE,
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  }

  initI64(base: string, values: ArrayLike<number>, dims: number[]): string {
    checkSize(base, values.length, dims);
    const data = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    return this.addInit(base, dims, ELEM.int64, new Uint8Array(data.buffer));
  }

  /** An int8 initializer (quantised weights); values must be integers in [-128, 127]. */
  initI8(base: string, values: ArrayLike<number>, dims: number[]): string {
    checkSize(base, values.length, dims);
    const data = Int8Array.from(values, (v) => checkRange(base, v, -128, 127));
    return this.addInit(base, dims, onnx.TensorProto.DataType.INT8, new Uint8Array(data.buffer));
  }

  /** A uint8 initializer (quantised weights or zero points); values must lie in [0, 255]. */
  initU8(base: string, values: ArrayLike<number>, dims: number[]): string {
    checkSize(base, values.length, dims);
    const data = Uint8Array.from(values, (v) => checkRange(base, v, 0, 255));
    return this.addInit(base, dims, onnx.TensorProto.DataType.UINT8, data);
  }

  /** Small int64 constants (shapes, axes), shared by value. Tagged 'other': bookkeeping, not SSM work. */
  constI64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.within('other', () => this.initI64('c_i64', values, dims));
      this.constCache.set(key, name);
    }
    return name;
  }

  /** A float32 scalar (or small) constant, shared by value. */
  constF32(values: number[], dims: number[] = []): string {
    const key = `f32:${dims.join('x')}:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.within('other', () => this.initF32('c_f32', values, dims));
      this.constCache.set(key, name);
    }
    return name;
  }

  /**
   * Adds a node; returns its output names. `outputs` is a count (names derived from the op) or explicit
   * names. Empty-string inputs are ONNX's "omitted optional input".
   */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    outputs: number | string[] = 1,
  ): string[] {
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()))
        : outputs.map((n) => (this.claim(n), n));
    this.nodes.push({
      opType,
      input: inputs,
      output: outs,
      name: this.fresh(`${this.section}/${opType}`),
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
    this.nodeSections.push(this.section);
    return outs;
  }

  /** Single-output shorthand for node(); `name` gives the output an explicit name (e.g. a graph output's). */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    return this.node(opType, inputs, attrs, name === undefined ? 1 : [name])[0]!;
  }

  /**
   * Declares the work (FLOPs per batch element) of nodes just emitted, in the current section. The rule,
   * checked against the emitted graph by test/unit/export-flops.test.ts: MatMul 2·K per output element
   * (every product it does, the Toeplitz zeros included); Gemm the same plus the bias; Conv 2·taps per
   * output; Add/Sub/Mul/Div one per output element, Sum (inputs − 1); ReduceSum
   * (inputs − outputs), ReduceMean one per input element; CumSum one per element;
   * DFT 2.5·n·log2(n) per transform; LayerNormalization and Gelu 8, Sigmoid 4 per element; data movement 0.
   */
  work(flops: number): void {
    this.flops[this.section] += flops;
  }

  metadata(key: string, value: string): void {
    this.meta.push({ key, value });
  }

  stats(): GraphStats {
    const ops: Record<string, number> = {};
    for (const n of this.nodes) ops[n.opType!] = (ops[n.opType!] ?? 0) + 1;
    return {
      nodes: this.nodes.length,
      ssmNodes: this.nodeSections.filter((s) => s === 'ssm').length,
      initializerBytes: this.initBytes.reduce((a, b) => a + b.bytes, 0),
      ssmInitializerBytes: this.initBytes.filter((b) => b.section === 'ssm').reduce((a, b) => a + b.bytes, 0),
      ops,
      flops: { ssm: this.flops.ssm, other: this.flops.mixing + this.flops.norm + this.flops.other },
      flopsBySection: { ...this.flops },
    };
  }

  encode(producer: { name: string; version: string }): Uint8Array {
    const model: OnnxNs.IModelProto = {
      irVersion: IR_VERSION,
      producerName: producer.name,
      producerVersion: producer.version,
      opsetImport: [{ domain: '', version: this.opset }],
      metadataProps: this.meta,
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.inits,
        input: this.inputs,
        output: this.outputs,
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }

  private addInit(base: string, dims: number[], dataType: number, raw: Uint8Array): string {
    const name = this.fresh(base);
    // Copy: the caller's buffer may be reused; raw_data is little-endian, as typed arrays are on x64/arm64.
    this.inits.push({ name, dims, dataType, rawData: Uint8Array.from(raw) });
    this.initBytes.push({ bytes: raw.byteLength, section: this.section });
    return name;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`ONNX graph: name ${name} used twice`);
    this.names.add(name);
  }
}

function checkSize(name: string, n: number, dims: number[]): void {
  if (!dims.every((d) => Number.isInteger(d) && d >= 0))
    throw new Error(`ONNX initializer ${name}: bad shape [${dims}]`);
  const size = dims.reduce((a, b) => a * b, 1);
  if (n !== size) throw new Error(`ONNX initializer ${name}: ${n} values for shape [${dims}]`);
}

function checkRange(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw new Error(`ONNX initializer ${name}: ${v} is not an integer in [${lo}, ${hi}]`);
  return v;
}

function valueInfo(name: string, elem: ElemType, dims: Dim[]): OnnxNs.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[elem],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): OnnxNs.IAttributeProto {
  if (typeof v === 'number') {
    if (!Number.isInteger(v))
      throw new Error(`ONNX attribute ${name}: ${v} is not an integer (wrap floats with float())`);
    return { name, type: AT.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  return { name, type: AT.FLOAT, f: v.float };
}

/** Decodes model bytes (for tests and tools that inspect an export). */
export function decodeModel(bytes: Uint8Array): OnnxNs.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
