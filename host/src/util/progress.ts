/**
 * Progress for long loops: a redrawn bar on a terminal; when stderr is not a terminal (CI, logs, pipes) the
 * bar stays silent and only the closing summary line is written; nothing at all with `quiet` (--json).
 * Always on stderr so stdout stays machine-readable.
 */
export interface ProgressOptions {
  quiet?: boolean;
}

export class Progress {
  private readonly tty: boolean;
  private readonly started = Date.now();
  private lastDraw = 0;

  constructor(
    readonly label: string,
    readonly total: number,
    private readonly opts: ProgressOptions = {},
  ) {
    this.tty = Boolean(process.stderr.isTTY) && !process.env.CI;
  }

  /** `done` of `total` units; `info` is appended (loss, metric, samples/s …). */
  update(done: number, info = ''): void {
    if (this.opts.quiet || !this.tty) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < this.total) return;
    this.lastDraw = now;
    const width = 24;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '·');
    process.stderr.write(`\r${this.label} ${bar} ${done}/${this.total} ${info}\x1b[K`);
  }

  /** Ends the bar with a summary line. */
  done(summary = ''): void {
    if (this.opts.quiet) return;
    const secs = ((Date.now() - this.started) / 1000).toFixed(1);
    process.stderr.write(
      `${this.tty ? '\r' : ''}${this.label} done in ${secs}s ${summary}${this.tty ? '\x1b[K' : ''}\n`,
    );
  }
}
