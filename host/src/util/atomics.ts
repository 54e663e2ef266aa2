/**
 * Blocks this thread while `ctl[index]` holds `value`, at most until `deadline` (a Date.now() time), and
 * returns what it holds then. Waits in slices of at most a second, so the deadline is kept even when a
 * notify is missed. Used by the main thread to wait on worker threads over a SharedArrayBuffer.
 */
export function waitWhile(ctl: Int32Array, index: number, value: number, deadline: number): number {
  for (;;) {
    const now = Atomics.load(ctl, index);
    const left = deadline - Date.now();
    if (now !== value || left <= 0) return now;
    Atomics.wait(ctl, index, value, Math.min(left, 1000));
  }
}
