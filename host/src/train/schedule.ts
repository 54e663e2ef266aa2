/** Learning-rate multiplier: linear warm-up from 0 over `warmup` steps, then cosine decay to `floor`. */
export function warmupCosine(step: number, total: number, warmup: number, floor = 0): number {
  if (total <= 0) return 1;
  if (warmup > 0 && step < warmup) return (step + 1) / warmup;
  const span = Math.max(1, total - warmup);
  const progress = Math.min(1, Math.max(0, (step - warmup) / span));
  return floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** Early stopping on a validation metric where higher is better. */
export class EarlyStopping {
  best = -Infinity;
  bestEpoch = -1;
  private bad = 0;

  constructor(
    readonly patience: number,
    readonly minDelta = 0,
  ) {}

  /** Records an epoch's metric; returns true when it improved on the best so far. */
  update(epoch: number, metric: number): boolean {
    if (metric > this.best + this.minDelta) {
      this.best = metric;
      this.bestEpoch = epoch;
      this.bad = 0;
      return true;
    }
    this.bad += 1;
    return false;
  }

  get shouldStop(): boolean {
    return this.patience > 0 && this.bad >= this.patience;
  }
}
