/**
 * Models are untrusted input. onnxruntime resolves a tensor's external data relative to the working
 * directory, so a pushed model could read files of the board as its weights. The agent receives single
 * self-contained files and refuses any model that references external data: this walks the protobuf
 * (model → graph → initializers, sparse initializers, node attributes and their subgraphs, functions)
 * and reports the first tensor with `data_location = EXTERNAL` or `external_data` entries.
 * A minimal wire-format reader, no dependency: only the fields on those paths are followed.
 */

type Field = { no: number; wire: number; value: number | Uint8Array };

/** Top-level fields of one protobuf message; throws on malformed bytes. */
function* fields(buf: Uint8Array): Generator<Field> {
  let i = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let n = 0; n < 10; n++) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      result += (b & 0x7f) * mul;
      if (!(b & 0x80)) return result;
      mul *= 128;
    }
    throw new Error('varint too long');
  };
  while (i < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) yield { no, wire, value: varint() };
    else if (wire === 1) {
      i += 8;
      yield { no, wire, value: 0 };
    } else if (wire === 5) {
      i += 4;
      yield { no, wire, value: 0 };
    } else if (wire === 2) {
      const len = varint();
      if (i + len > buf.length) throw new Error('length-delimited field runs past the end');
      yield { no, wire, value: buf.subarray(i, i + len) };
      i += len;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (i > buf.length) throw new Error('field runs past the end');
  }
}

const sub = (f: Field) => (f.wire === 2 ? (f.value as Uint8Array) : null);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function tensor(buf: Uint8Array, where: string): string | null {
  let name = '';
  let external = false;
  let location = '';
  for (const f of fields(buf)) {
    if (f.no === 8 && f.wire === 2) name = text(f.value as Uint8Array);
    if (f.no === 14 && f.wire === 0 && f.value === 1) external = true;
    if (f.no === 13 && f.wire === 2) {
      external = true;
      let k = '';
      let v = '';
      for (const e of fields(f.value as Uint8Array)) {
        if (e.no === 1 && e.wire === 2) k = text(e.value as Uint8Array);
        if (e.no === 2 && e.wire === 2) v = text(e.value as Uint8Array);
      }
      if (k === 'location') location = v;
    }
  }
  if (!external) return null;
  return `${where} tensor "${name.slice(0, 64)}" references external data${location ? ` at ${JSON.stringify(location.slice(0, 128))}` : ''}`;
}

function sparse(buf: Uint8Array, where: string): string | null {
  for (const f of fields(buf)) {
    const b = sub(f);
    if (b && (f.no === 1 || f.no === 2)) {
      const p = tensor(b, where);
      if (p) return p;
    }
  }
  return null;
}

function attribute(buf: Uint8Array, where: string, depth: number): string | null {
  for (const f of fields(buf)) {
    const b = sub(f);
    if (!b) continue;
    const p =
      f.no === 5 || f.no === 10
        ? tensor(b, `${where} attribute`)
        : f.no === 6 || f.no === 11
          ? graph(b, `${where} subgraph`, depth + 1)
          : f.no === 22 || f.no === 23
            ? sparse(b, `${where} attribute`)
            : null;
    if (p) return p;
  }
  return null;
}

function node(buf: Uint8Array, where: string, depth: number): string | null {
  for (const f of fields(buf)) {
    const b = sub(f);
    if (b && f.no === 5) {
      const p = attribute(b, where, depth);
      if (p) return p;
    }
  }
  return null;
}

function graph(buf: Uint8Array, where: string, depth: number): string | null {
  if (depth > 32) throw new Error('graphs nested more than 32 deep');
  for (const f of fields(buf)) {
    const b = sub(f);
    if (!b) continue;
    const p =
      f.no === 5
        ? tensor(b, `${where} initializer`)
        : f.no === 15
          ? sparse(b, `${where} sparse initializer`)
          : f.no === 1
            ? node(b, `${where} node`, depth)
            : null;
    if (p) return p;
  }
  return null;
}

/** Why this model may not run on the board (it references external data, or is not protobuf), or null. */
export function untrustedModelProblem(bytes: Uint8Array): string | null {
  try {
    for (const f of fields(bytes)) {
      const b = sub(f);
      if (!b) continue;
      if (f.no === 7) {
        const p = graph(b, 'graph', 0);
        if (p) return `${p}: models are untrusted input, and the agent takes only self-contained files`;
      }
      if (f.no === 25) {
        for (const g of fields(b)) {
          const nb = sub(g);
          if (nb && g.no === 7) {
            const p = node(nb, 'function node', 0);
            if (p) return `${p}: models are untrusted input, and the agent takes only self-contained files`;
          }
        }
      }
    }
  } catch {
    // Not protobuf: onnxruntime refuses it with its own reason (a bad_model measurement error).
    return null;
  }
  return null;
}
