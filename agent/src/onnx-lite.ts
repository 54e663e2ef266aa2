/**
 * Just enough of ONNX's protobuf encoding for the agent, which must not depend on the host's exporter or
 * on a protobuf library: read a model's metadata entries (the declared work of an S4oP export) and write
 * the tiny fixed models the device-peak measurement runs (one MatMul, one elementwise Mul).
 *
 * Field numbers are onnx.proto's: ModelProto ir_version 1, producer_name 2, graph 7, opset_import 8,
 * metadata_props 14; GraphProto node 1, name 2, input 11, output 12; NodeProto input 1, output 2, name 3,
 * op_type 4; ValueInfoProto name 1, type 2; TypeProto tensor_type 1; TypeProto.Tensor elem_type 1, shape 2;
 * TensorShapeProto dim 1; Dimension dim_value 1; OperatorSetIdProto domain 1, version 2;
 * StringStringEntryProto key 1, value 2.
 */

export class OnnxParseError extends Error {}

// ---- reading ----

interface Cursor {
  bytes: Uint8Array;
  pos: number;
  end: number;
}

function varint(c: Cursor): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (c.pos >= c.end) throw new OnnxParseError('truncated varint');
    const b = c.bytes[c.pos++]!;
    result += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return result;
    scale *= 128;
  }
  throw new OnnxParseError('varint longer than 10 bytes');
}

/** Calls `onField` for each field of the message in [pos, end); length-delimited values as sub-ranges. */
function fields(
  bytes: Uint8Array,
  pos: number,
  end: number,
  onField: (field: number, start: number, stop: number) => void,
): void {
  const c: Cursor = { bytes, pos, end };
  while (c.pos < c.end) {
    const tag = varint(c);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw new OnnxParseError(`field number 0 at byte ${c.pos}`);
    if (wire === 0) varint(c);
    else if (wire === 1) c.pos += 8;
    else if (wire === 5) c.pos += 4;
    else if (wire === 2) {
      const len = varint(c);
      const start = c.pos;
      c.pos += len;
      if (c.pos > c.end) throw new OnnxParseError(`field ${field} runs past the end of the model`);
      onField(field, start, c.pos);
    } else throw new OnnxParseError(`unsupported wire type ${wire} at byte ${c.pos}`);
    if (c.pos > c.end) throw new OnnxParseError('truncated model');
  }
}

const utf8 = new TextDecoder();

/** The model's metadata_props as a map (later duplicates win); throws OnnxParseError on bytes that are not protobuf. */
export function readMetadata(model: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  fields(model, 0, model.length, (field, start, stop) => {
    if (field !== 14) return;
    let key = '';
    let value = '';
    fields(model, start, stop, (f, s, e) => {
      if (f === 1) key = utf8.decode(model.subarray(s, e));
      else if (f === 2) value = utf8.decode(model.subarray(s, e));
    });
    out[key] = value;
  });
  return out;
}

// ---- writing ----

type Part = Uint8Array;

function encVarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function concat(parts: Part[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const intField = (field: number, v: number): Part => Uint8Array.from([...encVarint(field * 8), ...encVarint(v)]);
const bytesField = (field: number, body: Uint8Array): Part =>
  concat([Uint8Array.from([...encVarint(field * 8 + 2), ...encVarint(body.length)]), body]);
const strField = (field: number, s: string): Part => bytesField(field, new TextEncoder().encode(s));
const msg = (field: number, parts: Part[]): Part => bytesField(field, concat(parts));

const FLOAT = 1;

function tensorInfo(field: number, name: string, dims: number[]): Part {
  const shape = dims.map((d) => msg(1, [intField(1, d)]));
  return msg(field, [strField(1, name), msg(2, [msg(1, [intField(1, FLOAT), msg(2, shape)])])]);
}

export interface TinyNode {
  op: string;
  inputs: string[];
  outputs: string[];
}

/** A float32 model of plain nodes over graph inputs (IR 8, opset 13): enough for the peak measurement. */
export function tinyModel(
  name: string,
  nodes: TinyNode[],
  inputs: { name: string; dims: number[] }[],
  outputs: { name: string; dims: number[] }[],
): Uint8Array {
  const graph: Part[] = [
    ...nodes.map((n, i) =>
      msg(1, [
        ...n.inputs.map((x) => strField(1, x)),
        ...n.outputs.map((y) => strField(2, y)),
        strField(3, `${n.op}_${i}`),
        strField(4, n.op),
      ]),
    ),
    strField(2, name),
    ...inputs.map((v) => tensorInfo(11, v.name, v.dims)),
    ...outputs.map((v) => tensorInfo(12, v.name, v.dims)),
  ];
  return concat([intField(1, 8), strField(2, 's4op-agent'), msg(7, graph), msg(8, [strField(1, ''), intField(2, 13)])]);
}

/** y[n,n] = a[n,n] · b[n,n]: 2n³ FLOPs per run. */
export function matmulModel(n: number): Uint8Array {
  return tinyModel(
    `matmul_${n}`,
    [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }],
    [
      { name: 'a', dims: [n, n] },
      { name: 'b', dims: [n, n] },
    ],
    [{ name: 'y', dims: [n, n] }],
  );
}

/**
 * y[1] = ΣΣ(x[n] · s[1]): the Mul reads 4n bytes and writes 4n, the ReduceSum reads them again, 12n bytes per
 * run inside the runtime. The output is one number: a large output would measure the copy into a JS array.
 */
export function bandwidthModel(n: number): Uint8Array {
  return tinyModel(
    `bandwidth_${n}`,
    [
      { op: 'Mul', inputs: ['x', 's'], outputs: ['t'] },
      { op: 'ReduceSum', inputs: ['t'], outputs: ['y'] },
    ],
    [
      { name: 'x', dims: [n] },
      { name: 's', dims: [1] },
    ],
    [{ name: 'y', dims: [1] }],
  );
}

/** Bytes one run of bandwidthModel(n) moves. */
export const bandwidthBytes = (n: number) => 12 * n;
