/**
 * The S4D kernel's two heavy loops (Σ over l of mode powers, forward and backward) in wasm SIMD, split
 * over threads by channel ranges. S4D only: ../s4d/kernel.ts builds the per-mode table and
 * ../s4d/gradient.ts does the rest of the chain rule.
 */
import { loadCore, MAX_BYTES, runParallel, splitRange, threadsFor } from './wasm-core.js';

/** Whether the wasm loops can take a kernel of this size. */
export function kernelWasmAvailable(A: number, M: number, L: number, dirs: number): boolean {
  return loadCore() !== null && 8 * (A * M * (2 + 2 * dirs) + 2 * dirs * A * L + A * M * dirs * 4) < MAX_BYTES;
}

function threads(A: number, M: number, L: number): number {
  // The kernel loop is ~1/10 of an FFT point's work per (mode, l).
  return Math.max(1, Math.min(threadsFor((A * M * L) / 10), A));
}

/** out [dirs·A, L] = Σ_m 2·Re(C'·z^l) per row, from the mode table (records zr, zi, C' re/im per direction). */
export function wasmKernelForward(modes: Float64Array, A: number, M: number, L: number, dirs: number): Float64Array {
  const c = loadCore()!;
  const modesAt = 0;
  const outAt = modes.byteLength;
  const end = outAt + dirs * A * L * 8;
  const have = c.memory.buffer.byteLength;
  if (end > have) c.memory.grow(Math.ceil((end - have) / 65536));
  const f64 = new Float64Array(c.memory.buffer);
  f64.set(modes, modesAt / 8);
  runParallel(
    c,
    splitRange(A, threads(A, M, L)).map(([r0, r1]) => ({
      fn: 'kernelForwardRange',
      args: [r0, r1, A, M, L, dirs, modesAt, outAt],
    })),
  );
  return f64.slice(outAt / 8, end / 8);
}

/** sums [A, M, dirs, 4] = Re S0, Im S0, Re S1, Im S1 with S0 = Σ_l dK·z^l, S1 = Σ_l dK·l·z^l. */
export function wasmKernelSums(
  modes: Float64Array,
  A: number,
  M: number,
  L: number,
  dirs: number,
  dK: ArrayLike<number>,
): Float64Array {
  const c = loadCore()!;
  const modesAt = 0;
  const dkAt = modes.byteLength;
  const sumsAt = dkAt + Math.ceil((dirs * A * L * 8) / 16) * 16;
  const end = sumsAt + A * M * dirs * 4 * 8;
  const have = c.memory.buffer.byteLength;
  if (end > have) c.memory.grow(Math.ceil((end - have) / 65536));
  const f64 = new Float64Array(c.memory.buffer);
  f64.set(modes, modesAt / 8);
  f64.set(dK, dkAt / 8);
  runParallel(
    c,
    splitRange(A, threads(A, M, L)).map(([r0, r1]) => ({
      fn: 'kernelSumsRange',
      args: [r0, r1, A, M, L, dirs, modesAt, dkAt, sumsAt],
    })),
  );
  return f64.slice(sumsAt / 8, end / 8);
}
