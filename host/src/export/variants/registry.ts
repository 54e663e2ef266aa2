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
 * interleaved (float32 carry): L 196, d_state 32: 1.06 at 32 rows, 1.00 at 22, 0.95 at 16, 0.89 at 10;
 * d_state 16: 1.07 at 32, 0.98 at 19; L 784, d_state 64: 1.10 at 38, 0.98 at 13; L 4,096: 1.07 at 32,
 * 0.80–0.91 at 6–19; L 16,384 (float64 carry): 1.34 at 32, 0.96–0.99 at 6–19.
 */
export const PREFIX_MAX_ROWS = 20;

export function autoConvVariant(kind: 's4d' | 's4', rowsPerLayer: number[]): string {
  const rows = rowsPerLayer.filter((r) => r > 0);
  const mean = rows.length ? rows.reduce((a, r) => a + r, 0) / rows.length : 0;
  if (kind === 's4d' && mean > 0 && mean <= PREFIX_MAX_ROWS) return 'prefix';
  return AUTO_ORDER.find((v) => CONV_VARIANTS.has(v))!;
}

export function convVariant(name: string): ConvVariant {
  const v = CONV_VARIANTS.get(name);
  if (!v) throw new Error(`unknown conv variant "${name}"; known: ${[...CONV_VARIANTS.keys()].join(', ')}, or auto`);
  return v;
}
