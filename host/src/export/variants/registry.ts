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

export function convVariant(name: string): ConvVariant {
  const v = CONV_VARIANTS.get(name);
  if (!v) throw new Error(`unknown conv variant "${name}"; known: ${[...CONV_VARIANTS.keys()].join(', ')}, or auto`);
  return v;
}
