/** When to prune how much: the incremental schedule of pruning rates (percent of all operators). */

export const DEFAULT_RATES: readonly number[] = [10, 30, 50, 70, 90];

/** Checks a schedule: finite percentages in (0, 100), strictly increasing. */
export function checkRates(rates: readonly number[]): number[] {
  if (!rates.length) throw new Error('pruning rates: the schedule is empty');
  let prev = 0;
  for (const r of rates) {
    if (!Number.isFinite(r) || r <= 0 || r >= 100)
      throw new Error(`pruning rates: ${String(r)} is not a percentage in (0, 100)`);
    if (r <= prev)
      throw new Error(`pruning rates must increase strictly (${prev} then ${r}): channels pruned earlier stay pruned`);
    prev = r;
  }
  return [...rates];
}

/** Parses "10,30,50" (percent; a trailing % is allowed). */
export function parseRates(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim().replace(/%$/, ''));
  const rates = parts.map((s) => {
    const n = Number(s);
    if (s === '' || !Number.isFinite(n))
      throw new Error(`pruning rates: "${s}" in "${text}" is not a number (expected e.g. 10,30,50,70,90)`);
    return n;
  });
  return checkRates(rates);
}
