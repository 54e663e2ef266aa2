/** Conv-mode variants by name. `auto` resolves to the fastest on onnxruntime CPU as measured (README, bench). */
import { convChunked } from './conv-chunked.js';
import { convDirect } from './conv-direct.js';
import { convFft } from './conv-fft.js';
import { convPrefix } from './conv-prefix.js';
import type { ConvVariant } from './variant.js';

export const CONV_VARIANTS: ReadonlyMap<string, ConvVariant> = new Map(
  [convChunked, convPrefix, convFft, convDirect].map((v) => [v.name, v]),
);

/**
 * Preference of `auto` until a board's measurements decide: scripts/bench/export-latency.ts measured chunked
 * far ahead of fft and direct at L = 784 on onnxruntime-node (x64, 2 threads).
 */
export const AUTO_ORDER: readonly string[] = ['chunked', 'fft', 'direct'];

/**
 * Most active channels (rows, both directions counted) per layer, on average over the layers that have any,
 * for which `auto` takes `prefix` over `chunked` (S4D): with few channels the chunked scan's unrolled nodes
 * dominate and prefix's fixed node count wins. Measured prefix ÷ chunked on onnxruntime-node, 1 thread,
 * interleaved (scripts/bench/export-speed.ts and the README): L 196, d_state 32: 1.18 at 32 rows, 1.03 at
 * 16, 0.95 at 10, 0.84 at 3; d_state 16: 1.05 at 19, 0.93 at 6; L 784, d_state 64: 1.04 at 13, 1.2 at 38;
 * L 4,096: 0.80–0.91 at 6–19 rows, 1.22 at 32; L 16,384: 0.96–0.99 at 6–19.
 */
export const PREFIX_MAX_ROWS = 12;
/** The same from L = LONG_LENGTH on, where chunked has 128 blocks to scan (and prefix loads 4–7× faster). */
export const PREFIX_MAX_ROWS_LONG = 20;
export const LONG_LENGTH = 4096;

/** `auto` for conv mode, given the layers' active rows: the static choice until a board's measurement decides. */
export function autoConvVariant(kind: 's4d' | 's4', rowsPerLayer: number[], L: number): string {
  const rows = rowsPerLayer.filter((r) => r > 0);
  const mean = rows.length ? rows.reduce((a, r) => a + r, 0) / rows.length : 0;
  const most = L >= LONG_LENGTH ? PREFIX_MAX_ROWS_LONG : PREFIX_MAX_ROWS;
  if (kind === 's4d' && mean > 0 && mean <= most) return 'prefix';
  return AUTO_ORDER.find((v) => CONV_VARIANTS.has(v))!;
}

export function convVariant(name: string): ConvVariant {
  const v = CONV_VARIANTS.get(name);
  if (!v) throw new Error(`unknown conv variant "${name}"; known: ${[...CONV_VARIANTS.keys()].join(', ')}, or auto`);
  return v;
}
