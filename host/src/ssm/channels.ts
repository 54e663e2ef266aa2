/**
 * What every SSM in this folder means by a layer's channels (d_model of them, one operator each): the
 * typed arrays their float64 code reads, and the one rule for a set of active channels.
 */

/** Parameter and signal arrays: float32 from tfjs tensors, float64 in references and gradient checks. */
export type Real = Float32Array | Float64Array;

/**
 * Checks that `active` is a strictly increasing list of channel indices in [0, H).
 *
 * Why sorted and not merely distinct: row r of every kernel, kept spectrum, step form and exported state
 * is channel active[r], and the model (setActive sorts), the pruning operators, the exporter's bypass
 * and the packed step state all hold a layer's active channels in ascending order. One order everywhere
 * means a permuted list cannot yield rows that silently disagree with the model's; a repeated channel
 * would be computed, and its gradient counted, twice.
 */
export function checkActive(active: Int32Array, H: number): void {
  if (!(active instanceof Int32Array)) throw new Error('active channels must be an Int32Array');
  let prev = -1;
  for (let i = 0; i < active.length; i++) {
    const h = active[i]!;
    if (h < 0 || h >= H) throw new Error(`active channel ${h} out of range [0, ${H})`);
    if (h === prev) throw new Error(`active channel ${h} listed twice (active channels must be sorted and unique)`);
    if (h < prev) throw new Error(`active channels must be sorted and unique (got ${prev} then ${h})`);
    prev = h;
  }
}
