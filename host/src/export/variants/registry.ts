/**
 * The export variants of both modes by name: the one list that `s4op export --variant` (help and validation),
 * exportModel, the tuner and the parity tests read. A new variant is a file of this folder exporting a
 * ConvVariant or StepVariant, and one entry in VARIANTS (test/unit/registries-dummy.test.ts checks that this is
 * all it takes). `auto` resolves to the fastest on onnxruntime CPU as measured (README, bench).
 */
import type { ExportMode } from '../export.js';
import { convChunked } from './conv-chunked.js';
import { convDirect } from './conv-direct.js';
import { convFft } from './conv-fft.js';
import { convPrefix } from './conv-prefix.js';
import { convScan } from './conv-scan.js';
import { convToeplitz } from './conv-toeplitz.js';
import { stepPacked } from './step-packed.js';
import { stepRecurrent } from './step-recurrent.js';
import type { ConvVariant, ExportVariant, StepVariant } from './variant.js';

/** In registry order: the tuner measures in it, and a step mode's first variant is its `auto`. */
export const VARIANTS: readonly ExportVariant[] = [
  convChunked,
  convPrefix,
  convScan,
  convToeplitz,
  convFft,
  convDirect,
  stepPacked,
  stepRecurrent,
];

const byMode = <V extends ExportVariant>(mode: V['mode']): ReadonlyMap<string, V> =>
  new Map(VARIANTS.filter((v): v is V => v.mode === mode).map((v) => [v.name, v]));

export const CONV_VARIANTS: ReadonlyMap<string, ConvVariant> = byMode<ConvVariant>('conv');
export const STEP_VARIANTS: ReadonlyMap<string, StepVariant> = byMode<StepVariant>('step');

/** A mode's variant names, in registry order (`auto` not included). */
export function variantNames(mode: ExportMode): string[] {
  return [...(mode === 'conv' ? CONV_VARIANTS : STEP_VARIANTS).keys()];
}

/** The --variant help: every mode's variants (conv ones limited to one SSM kind say which), or auto. */
export function variantsHelp(): string {
  const label = (v: ExportVariant) =>
    v.mode === 'conv' && v.kinds ? `${v.name} (${v.kinds.map((k) => k.toUpperCase()).join(', ')})` : v.name;
  const list = (mode: ExportMode) =>
    `${mode}: ${VARIANTS.filter((v) => v.mode === mode)
      .map(label)
      .join(', ')} or auto`;
  return `${list('conv')}; ${list('step')}`;
}

/**
 * Preference of `auto` until a board's measurements decide: scripts/bench/export-latency.ts measured chunked
 * far ahead of fft and direct at L = 784 on onnxruntime-node (x64, 2 threads).
 */
export const AUTO_ORDER: readonly string[] = ['chunked', 'fft', 'direct'];

/**
 * Most active channels (rows, both directions counted) per layer, on average over the layers that have any,
 * for which `auto` takes `prefix` over `chunked` (S4D, L ≥ PREFIX_MIN_LENGTH): with few channels the chunked
 * scan's unrolled nodes dominate and prefix's fixed node count wins. Measured prefix ÷ chunked on
 * onnxruntime-node, 1 thread, interleaved (float32 carry; chunked blocks of at least 24 steps): L 784, d_state 64:
 * 0.94 at 6 rows, 1.04 at 19; d_state 32: 0.86 at 10; L 4,096, d_state 64: 0.91 at 13 (before, 0.80–0.91 at
 * 6–19; 1.07 at 32); L 16,384 (float64 carry): 0.96–0.99 at 6–19, 1.34 at 32.
 */
export const PREFIX_MAX_ROWS = 20;
/**
 * Shortest L for which `auto` takes `prefix`: at L 196 (d_state 32) chunked's blocks of 28 steps beat it with
 * any number of rows (prefix ÷ chunked 1.16 at 16 rows, 1.08 at 10, 1.06 at 3).
 */
export const PREFIX_MIN_LENGTH = 512;

/**
 * Most complex modes per channel (the widest layer's, after state pruning) for which `auto` takes `scan` over
 * `chunked` (S4D, where prefix does not apply), at any length; up to SCAN_MAX_MODES_SHORT at L ≤
 * SHORT_LENGTH. conv-scan.ts has the measurements: at L 784 scan lost with 6 or more modes (1.03–1.21 of
 * chunked), at L 196 (d_model 64, states pruned) it took 0.91 with 6 modes, 0.97 with 10, 1.00 with 13,
 * 1.05 with 16.
 */
export const SCAN_MAX_MODES = 4;
export const SCAN_MAX_MODES_SHORT = 10;

/** Longest L of the short-sequence rules (toeplitz, scan's wider limit): they were measured at L 196. */
export const SHORT_LENGTH = 256;

/**
 * `auto` takes `toeplitz` at L ≤ SHORT_LENGTH when the extra MatMul work of the direct form over chunked's,
 * about rows·(L − 28 − 4M) multiply-adds per step and layer, stays under what chunked's per-block nodes
 * cost, measured as TOEPLITZ_ROW_BUDGET·L/196 of that unit (conv-toeplitz.ts: toeplitz ÷ chunked at L 196
 * was 1.04 with 32 rows of 16 modes, 0.98 with 22, 0.88 with 10; 0.92–0.94 with 64 rows of 32 modes, 1.00
 * with 64 of 26, 1.11 with 64 of 13).
 */
export const TOEPLITZ_ROW_BUDGET = 2600;

/**
 * `auto`'s static choice from the layers' active rows (both directions), the widest layer's modes and the
 * sequence length.
 */
export function autoConvVariant(kind: 's4d' | 's4', rowsPerLayer: number[], modes: number, L: number): string {
  const rows = rowsPerLayer.filter((r) => r > 0);
  const mean = rows.length ? rows.reduce((a, r) => a + r, 0) / rows.length : 0;
  if (kind === 's4d' && mean > 0 && mean <= PREFIX_MAX_ROWS && L >= PREFIX_MIN_LENGTH) return 'prefix';
  const short = L <= SHORT_LENGTH;
  if (short && mean * Math.max(0, L - 28 - 4 * modes) <= (TOEPLITZ_ROW_BUDGET * L) / 196) return 'toeplitz';
  if (kind === 's4d' && modes <= (short ? SCAN_MAX_MODES_SHORT : SCAN_MAX_MODES)) return 'scan';
  return AUTO_ORDER.find((v) => CONV_VARIANTS.has(v))!;
}

export function convVariantApplies(v: ConvVariant, kind: 's4d' | 's4', L: number): boolean {
  return (!v.kinds || v.kinds.includes(kind)) && (v.maxLength === undefined || L <= v.maxLength);
}

export function convVariant(name: string): ConvVariant {
  const v = CONV_VARIANTS.get(name);
  if (!v) throw new Error(`unknown conv variant "${name}"; known: ${[...CONV_VARIANTS.keys()].join(', ')}, or auto`);
  return v;
}

/** A step variant by name; `auto` is the first registered (packed). */
export function stepVariant(name: string): StepVariant {
  if (name === 'auto') return STEP_VARIANTS.values().next().value!;
  const v = STEP_VARIANTS.get(name);
  if (!v) throw new Error(`unknown step variant "${name}"; known: ${[...STEP_VARIANTS.keys()].join(', ')}, or auto`);
  return v;
}
