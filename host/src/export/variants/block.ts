/**
 * Block lengths of the blocked conv variants (chunked, prefix, scan, toeplitz): a block asked for is checked, else the
 * variant's target is moved to a divisor of L nearby (a block length that divides L saves padding the input
 * and slicing the output), else to the length that splits L into equal-as-possible blocks.
 */

/** `block` checked for `variant`: a positive integer, and at most `maxBlocks` blocks over L when given. */
export function explicitBlock(variant: string, block: number, L: number, maxBlocks?: number): number {
  if (!Number.isInteger(block) || block < 1)
    throw new Error(`${variant} variant: block must be a positive integer, got ${block}`);
  if (maxBlocks !== undefined && Math.ceil(L / block) > maxBlocks)
    throw new Error(`${variant} variant: block ${block} gives more than ${maxBlocks} blocks for L = ${L}`);
  return Math.min(block, L);
}

/**
 * The divisor of L in [lo, hi] nearest `target` (the smaller on a tie), else ⌈L / ⌈L / target⌉⌉; L itself when
 * L ≤ target.
 */
export function nearDivisor(L: number, target: number, lo: number, hi: number): number {
  if (L <= target) return L;
  let divisor = 0;
  for (let T = lo; T <= hi; T++) {
    if (L % T === 0 && (!divisor || Math.abs(T - target) < Math.abs(divisor - target))) divisor = T;
  }
  return divisor || Math.ceil(L / Math.ceil(L / target));
}

/**
 * The default block of a variant cut into at most `maxBlocks` blocks: `base`, raised to L / maxBlocks, moved to a
 * divisor of L within ¾ to 3⁄2 of it (prefix, scan, toeplitz; chunked searches a wider window).
 */
export function blockNear(L: number, base: number, maxBlocks: number): number {
  const least = Math.ceil(L / maxBlocks);
  const target = Math.max(base, least);
  return nearDivisor(L, target, Math.max(least, Math.ceil((3 * target) / 4)), Math.floor((3 * target) / 2));
}
