/**
 * Synthesises feeds from a model's declared inputs, so any ONNX model can be timed: dtype and shape come
 * from the model, dynamic dimensions from the job (`dims` by name, else `default_dim`), whole shapes from
 * `shapes` when given. Values are deterministic: floats uniform in [-1, 1), integers 0 (always a valid
 * index), booleans false.
 */
import { DTYPES, findDtype, type DtypeInfo, type MeasureSettings } from '@s4op/shared';
import type { Feeds, InputInfo, PlainTensor, TensorData } from '../runtimes/runtime.js';

/** An input this agent cannot feed; the job fails with code `unsynthesisable_input`. */
export class InputError extends Error {
  override name = 'InputError';
}

/** Largest single synthesised input (elements), far above any latency benchmark's need. */
export const MAX_INPUT_ELEMENTS = 1 << 28;

// Every dtype of the shared table can be synthesised.
export const SYNTHESISABLE_DTYPES = DTYPES.map((d) => d.name);

/** Zeroed data of `n` elements, floats filled; IEEE half 0x3800 = 0.5: a harmless constant without a float16 encoder. */
function makeData(d: DtypeInfo, n: number): TensorData {
  const data = new d.array(n);
  if (d.halfBits) (data as Uint16Array).fill(0x3800);
  else if (data instanceof Float32Array || data instanceof Float64Array) fillFloat(data);
  return data;
}

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

export function resolveShape(
  input: InputInfo,
  settings: Pick<MeasureSettings, 'dims' | 'default_dim' | 'shapes'>,
): number[] {
  const declared = input.shape;
  const given = settings.shapes[input.name];
  if (given) {
    if (declared.length > 0 && given.length !== declared.length) {
      throw new InputError(
        `input "${input.name}": shape [${given.join(', ')}] has rank ${given.length}, the model declares rank ${declared.length} [${declared.join(', ')}]`,
      );
    }
    declared.forEach((d, i) => {
      if (typeof d === 'number' && d >= 0 && given[i] !== d) {
        throw new InputError(
          `input "${input.name}": shape [${given.join(', ')}] does not match the declared [${declared.join(', ')}] (dimension ${i} is fixed at ${d})`,
        );
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

export function synthesiseInput(
  input: InputInfo,
  settings: Pick<MeasureSettings, 'dims' | 'default_dim' | 'shapes'>,
): PlainTensor {
  if (!input.isTensor)
    throw new InputError(
      `input "${input.name}" is not a tensor (a sequence, map or optional): it cannot be synthesised`,
    );
  const dtype = input.dtype ?? 'unknown';
  const info = findDtype(dtype);
  if (!info) {
    throw new InputError(
      `input "${input.name}" has dtype ${dtype}, which cannot be synthesised (supported: ${SYNTHESISABLE_DTYPES.join(', ')})`,
    );
  }
  const dims = resolveShape(input, settings);
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > MAX_INPUT_ELEMENTS)
    throw new InputError(
      `input "${input.name}" of shape [${dims.join(', ')}] needs ${n} elements, more than the ${MAX_INPUT_ELEMENTS} allowed`,
    );
  return { dtype, data: makeData(info, n), dims };
}

export function synthesiseFeeds(
  inputs: InputInfo[],
  settings: Pick<MeasureSettings, 'dims' | 'default_dim' | 'shapes'>,
): Feeds {
  for (const name of Object.keys(settings.shapes)) {
    if (!inputs.some((i) => i.name === name)) {
      throw new InputError(
        `settings.shapes names input "${name}", which the model does not have (inputs: ${inputs.map((i) => i.name).join(', ')})`,
      );
    }
  }
  const feeds: Feeds = {};
  for (const input of inputs) feeds[input.name] = synthesiseInput(input, settings);
  return feeds;
}
