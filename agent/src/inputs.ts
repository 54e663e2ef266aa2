/**
 * Synthesises feeds from a model's declared inputs, so any ONNX model can be timed: dtype and shape come
 * from the model, dynamic dimensions from the job (`dims` by name, else `default_dim`), whole shapes from
 * `shapes` when given. Values are deterministic: floats uniform in [-1, 1), integers 0 (always a valid
 * index), booleans false.
 */
import type { MeasureSettings } from '@s4op/shared';
import type { Feeds, InputInfo, PlainTensor, TensorData } from './runtimes/runtime.js';

/** An input this agent cannot feed; the job fails with code `unsynthesisable_input`. */
export class InputError extends Error {
  override name = 'InputError';
}

/** Largest single synthesised input (elements), far above any latency benchmark's need. */
export const MAX_INPUT_ELEMENTS = 1 << 28;

const MAKERS: Record<string, (n: number) => TensorData> = {
  float32: (n) => fillFloat(new Float32Array(n)),
  float64: (n) => fillFloat(new Float64Array(n)),
  // IEEE half 0x3800 = 0.5: a harmless constant without a float16 encoder.
  float16: (n) => new Uint16Array(n).fill(0x3800),
  int8: (n) => new Int8Array(n),
  uint8: (n) => new Uint8Array(n),
  int16: (n) => new Int16Array(n),
  uint16: (n) => new Uint16Array(n),
  int32: (n) => new Int32Array(n),
  uint32: (n) => new Uint32Array(n),
  int64: (n) => new BigInt64Array(n),
  uint64: (n) => new BigUint64Array(n),
  bool: (n) => new Uint8Array(n),
};

export const SYNTHESISABLE_DTYPES = Object.keys(MAKERS);

function fillFloat<T extends Float32Array | Float64Array>(a: T): T {
  let s = 0x9e3779b9;
  for (let i = 0; i < a.length; i++) {
    // xorshift32: cheap, deterministic, no dependency
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return a;
}

export function resolveShape(input: InputInfo, settings: Pick<MeasureSettings, 'dims' | 'default_dim' | 'shapes'>): number[] {
  const declared = input.shape;
  const given = settings.shapes[input.name];
  if (given) {
    if (declared.length > 0 && given.length !== declared.length) {
      throw new InputError(`input "${input.name}": shape [${given.join(', ')}] has rank ${given.length}, the model declares rank ${declared.length} [${declared.join(', ')}]`);
    }
    declared.forEach((d, i) => {
      if (typeof d === 'number' && d >= 0 && given[i] !== d) {
        throw new InputError(`input "${input.name}": shape [${given.join(', ')}] does not match the declared [${declared.join(', ')}] (dimension ${i} is fixed at ${d})`);
      }
    });
    return [...given];
  }
  return declared.map((d) => {
    if (typeof d === 'number' && d >= 0) return d;
    if (typeof d === 'string' && d !== '' && settings.dims[d] !== undefined) return settings.dims[d]!;
    return settings.default_dim;
  });
}

export function synthesiseInput(input: InputInfo, settings: Pick<MeasureSettings, 'dims' | 'default_dim' | 'shapes'>): PlainTensor {
  if (!input.isTensor) throw new InputError(`input "${input.name}" is not a tensor (a sequence, map or optional): it cannot be synthesised`);
  const dtype = input.dtype ?? 'unknown';
  const make = MAKERS[dtype];
  if (!make) {
    throw new InputError(`input "${input.name}" has dtype ${dtype}, which cannot be synthesised (supported: ${SYNTHESISABLE_DTYPES.join(', ')})`);
  }
  const dims = resolveShape(input, settings);
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > MAX_INPUT_ELEMENTS) throw new InputError(`input "${input.name}" of shape [${dims.join(', ')}] needs ${n} elements, more than the ${MAX_INPUT_ELEMENTS} allowed`);
  return { dtype, data: make(n), dims };
}

export function synthesiseFeeds(inputs: InputInfo[], settings: Pick<MeasureSettings, 'dims' | 'default_dim' | 'shapes'>): Feeds {
  for (const name of Object.keys(settings.shapes)) {
    if (!inputs.some((i) => i.name === name)) {
      throw new InputError(`settings.shapes names input "${name}", which the model does not have (inputs: ${inputs.map((i) => i.name).join(', ')})`);
    }
  }
  const feeds: Feeds = {};
  for (const input of inputs) feeds[input.name] = synthesiseInput(input, settings);
  return feeds;
}
