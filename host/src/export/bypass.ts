/**
 * The one place where pruned operators leave the graph. The SSM runs on the active channels only; bypassed
 * channels pass their input through (their kernel is 0 and D is 1, exactly the model's bypass).
 *
 *  - 'fold': Gather(active) → SSM, Gather(bypassed), Concat. The result is in the channel order
 *    [active…, bypassed…]; the caller folds that permutation into the rows of the next Linear (GELU between
 *    them is elementwise), so putting channels back in order costs nothing.
 *  - 'scatter': Gather(active) → SSM, then ScatterElements into the input: original order, no folding.
 */
import type { GraphBuilder } from './onnx-builder.js';

export type BypassMode = 'fold' | 'scatter';
export const BYPASS_MODES: readonly BypassMode[] = ['fold', 'scatter'];

export interface Bypassed {
  /** Output of the SSM part, all H channels. */
  y: string;
  /** Channel order of `y` (output position → channel), or null for the original order. */
  order: Int32Array | null;
}

/**
 * `x` has its channels on `axis` (the last one); `ssm(xa)` maps the gathered active channels to their
 * output, same shape. The SSM nodes are tagged 'ssm', the gathering 'other'.
 */
export function withBypass(
  b: GraphBuilder,
  x: string,
  axis: number,
  rank: number,
  channels: { active: Int32Array; bypassed: Int32Array },
  mode: BypassMode,
  ssm: (xa: string) => string,
): Bypassed {
  const { active, bypassed } = channels;
  if (active.length === 0) return { y: x, order: null };
  if (bypassed.length === 0) return { y: b.within('ssm', () => ssm(x)), order: null };
  const xa = b.op('Gather', [x, b.initI64('active_channels', active, [active.length])], { axis });
  const ya = b.within('ssm', () => ssm(xa));
  if (mode === 'fold') {
    const xb = b.op('Gather', [x, b.initI64('bypassed_channels', bypassed, [bypassed.length])], { axis });
    return { y: b.op('Concat', [ya, xb], { axis }), order: Int32Array.from([...active, ...bypassed]) };
  }
  // ScatterElements needs indices of the updates' full shape: broadcast the channel list to it.
  const shape = Array<number>(rank).fill(1);
  shape[axis] = active.length;
  const idx = b.initI64('active_index', active, shape);
  const indices = b.op('Expand', [idx, b.op('Shape', [ya])]);
  return { y: b.op('ScatterElements', [x, indices, ya], { axis }), order: null };
}
