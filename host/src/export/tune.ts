/**
 * The export tuner: which variant (and block length) of a model's export is fastest on a device class,
 * decided on a board of that class. Every applicable variant of the variant registry (conv mode: the conv
 * variants; step mode: the step variants) is a candidate; a variant whose `describe()` records a `block`
 * length also gets a few powers of two around d_state/2. Each candidate is measured against one common
 * reference (the static `auto` choice) in an A/B job, the two models' runs interleaved, so the decision rests
 * on per-pair ratios, not on absolute times taken at different moments of a noisy board. The winner is the
 * smallest median ratio; options within `tie` of it count as ties and the one with fewer graph nodes wins.
 */
import { sha256Hex } from '@s4op/shared';
import type { SequenceModel } from '../model/model.js';
import type { JobOutcome } from '../fleet/link/jobs.js';
import type { PreparedModel } from '../prune/cost/cost.js';
import type { RunStore } from '../store/run-store.js';
import type { BypassMode } from './bypass.js';
import { exportModel, resolveVariant, type ExportMode, type ExportResult } from './export.js';
import { layerSsms } from './layer-ssm.js';
import { modelTuneShape, recordTuning, type TuneOption, type TuningRecord } from './tuned.js';
import { convVariant, convVariantApplies, variantNames } from './variants/registry.js';
import type { VariantOptions } from './variants/variant.js';

/** Block lengths tried stay at or above L / this (more blocks: more graph nodes for no gain). */
export const MAX_TUNE_BLOCKS = 128;
/** Relative difference of median ratios under which two options tie (then the simpler graph wins). */
export const DEFAULT_TIE = 0.02;

/** Something that runs one A/B job (A first, runs interleaved) on the board being tuned for. */
export interface PairMeasurer {
  readonly agent: string;
  readonly settings: Record<string, unknown>;
  compare(a: PreparedModel, b: PreparedModel): Promise<JobOutcome>;
}

export interface CandidateOptions {
  mode: ExportMode;
  /** Conv mode's sequence length. */
  length?: number;
  /** Only these variants (default: every variant of the mode's registry). */
  variants?: readonly string[];
  /** A fixed block length: no block sweep. */
  block?: number;
  bypass?: BypassMode;
}

export interface TuneCandidate {
  label: string;
  variant: string;
  variant_options: VariantOptions;
  reference: boolean;
  params: Record<string, number>;
  result: ExportResult;
}

/** Powers of two around d_state/2 (M): M/2, M, 2M and 4M rounded to powers of two, within [L/128, L]. */
export function blockLengths(dState: number, L: number): number[] {
  const M = Math.max(1, dState / 2);
  const c = 2 ** Math.round(Math.log2(M));
  const least = Math.max(2, Math.ceil(L / MAX_TUNE_BLOCKS));
  return [c / 2, c, 2 * c, 4 * c].filter((T) => Number.isInteger(T) && T >= least && T <= L);
}

function labelOf(variant: string, params: Record<string, number>): string {
  return params.block === undefined ? variant : `${variant} T=${params.block}`;
}

/**
 * The candidates of a model's export, exported: the reference (the static `auto` choice, or the first of
 * `variants` when that excludes it) first, then every variant in registry order and, for one with a block
 * length, the block lengths of `blockLengths`. Candidates whose graphs the variant describes alike are one.
 */
export function tuneCandidates(model: SequenceModel, o: CandidateOptions): TuneCandidate[] {
  const registry = variantNames(o.mode);
  for (const v of o.variants ?? []) {
    if (!registry.includes(v))
      throw new Error(`unknown ${o.mode} variant "${v}" to tune; known: ${registry.join(', ')}`);
  }
  // Conv: only the variants that export this model's layers at this length.
  const applies = (v: string) =>
    o.mode !== 'conv' || convVariantApplies(convVariant(v), model.config.ssm, o.length ?? 1);
  const names = (o.variants?.length ? registry.filter((v) => o.variants!.includes(v)) : registry).filter(applies);
  if (!names.length)
    throw new Error(`none of the variants ${o.variants!.join(', ')} exports this model at L = ${o.length}`);
  // The reference is what `auto` exports for this very model (its static rule depends on the active channels).
  const auto =
    o.mode === 'conv'
      ? exportModel(model, { mode: o.mode, length: o.length, variant: 'auto', bypass: o.bypass }).variant
      : resolveVariant(o.mode, 'auto');
  const refName = names.includes(auto) ? auto : names[0]!;
  const ssm = layerSsms(model).find((s) => s.active.length > 0);
  const L = o.length ?? 1;
  const describe = (variant: string, opts: VariantOptions): Record<string, number> =>
    o.mode === 'conv' && ssm ? convVariant(variant).describe(ssm, L, opts) : {};
  const wanted: { variant: string; opts: VariantOptions }[] = [
    { variant: refName, opts: o.block === undefined ? {} : { block: o.block } },
  ];
  for (const variant of names) {
    const blocky = 'block' in describe(variant, {});
    if (!blocky) wanted.push({ variant, opts: {} });
    else if (o.block !== undefined) wanted.push({ variant, opts: { block: o.block } });
    else {
      wanted.push({ variant, opts: {} });
      for (const T of blockLengths(model.config.dState, L)) wanted.push({ variant, opts: { block: T } });
    }
  }
  const seen = new Set<string>();
  const out: TuneCandidate[] = [];
  for (const w of wanted) {
    const params = describe(w.variant, w.opts);
    const key = `${w.variant} ${JSON.stringify(params)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // The block length is recorded as the variant resolved it, so the record reproduces the same graph.
    const variant_options: VariantOptions = params.block === undefined ? {} : { block: params.block };
    const result = exportModel(model, {
      mode: o.mode,
      length: o.length,
      variant: w.variant,
      variantOptions: variant_options,
      bypass: o.bypass,
    });
    out.push({
      label: labelOf(w.variant, params),
      variant: w.variant,
      variant_options,
      reference: out.length === 0,
      params,
      result,
    });
  }
  return out;
}

/** Smallest median ratio wins; options within `tie` (relative) of it tie, and the fewest nodes (then the earlier) wins. */
export function pickWinner<T extends Pick<TuneOption, 'ratio' | 'nodes'>>(options: readonly T[], tie = DEFAULT_TIE): T {
  if (!options.length) throw new Error('no options to pick from');
  const best = Math.min(...options.map((o) => o.ratio));
  const tied = options.filter((o) => o.ratio <= best * (1 + tie));
  return tied.reduce((a, b) => (b.nodes < a.nodes ? b : a));
}

export interface TuneOptions extends CandidateOptions {
  deviceClass: string;
  /** The board's measurer, or how to get it (only called when there are options to compare). */
  measurer: PairMeasurer | (() => Promise<PairMeasurer>);
  tie?: number;
  /** Provenance recorded with the tuning (checkpoint, weights hash). */
  model?: Record<string, unknown>;
  log?: (line: string) => void;
}

/** Measures the candidates of `model` paired against the reference and records the winner for the class. */
export async function tuneExport(store: RunStore, model: SequenceModel, o: TuneOptions): Promise<TuningRecord> {
  const tie = o.tie ?? DEFAULT_TIE;
  if (!(tie >= 0 && tie < 1)) throw new Error(`tie must be in [0, 1), got ${tie}`);
  const shape = modelTuneShape(model, o.mode, o.length);
  const candidates = tuneCandidates(model, o);
  const ref = candidates[0]!;
  const prep = (c: TuneCandidate): PreparedModel => ({
    model_sha256: sha256Hex(c.result.bytes),
    bytes: c.result.bytes,
    name: `tune-${c.label.replace(/[^\w.-]+/g, '_')}.onnx`,
  });
  const measurer = candidates.length < 2 ? null : typeof o.measurer === 'function' ? await o.measurer() : o.measurer;
  if (measurer)
    o.log?.(
      `tuning ${o.mode} export for class ${o.deviceClass} on ${measurer.agent}: ${candidates.map((c) => c.label).join(', ')}; each paired with ${ref.label}`,
    );
  else o.log?.(`one ${o.mode} export applies (${ref.label}): recorded for class ${o.deviceClass} without measuring`);
  const options: TuneOption[] = [];
  const measuredBy = new Set<string>();
  for (const c of candidates) {
    const base = {
      label: c.label,
      variant: c.variant,
      variant_options: c.variant_options,
      reference: c.reference,
      params: c.params,
      nodes: c.result.stats.nodes,
      ssm_nodes: c.result.stats.ssmNodes,
      flops: c.result.stats.flops.ssm + c.result.stats.flops.other,
      bytes: c.result.bytes.length,
      model_sha256: sha256Hex(c.result.bytes),
    };
    if (c.reference) {
      options.push({ ...base, ratio: 1, ratio_ci: null, p50_ms: null, reference_p50_ms: null, job_id: null });
      continue;
    }
    const out = await measurer!.compare(prep(ref), prep(c));
    const m = out.measurement;
    measuredBy.add(out.agent.name);
    if (!m.ratio || m.models.length !== 2) throw new Error(`the A/B job ${out.job_id} of ${c.label} returned no ratio`);
    const option: TuneOption = {
      ...base,
      ratio: m.ratio.median,
      ratio_ci: [m.ratio.median_ci.low, m.ratio.median_ci.high],
      p50_ms: m.models[1]!.latency_ms.median,
      reference_p50_ms: m.models[0]!.latency_ms.median,
      job_id: out.job_id,
    };
    options.push(option);
    o.log?.(
      `  ${c.label}: ${option.ratio.toFixed(3)} × ${ref.label} (${option.p50_ms!.toFixed(3)} vs ${option.reference_p50_ms!.toFixed(3)} ms, ${option.nodes} nodes)`,
    );
  }
  // The reference's own p50: the median of its p50s in the pairs.
  const refP50s = options
    .map((x) => x.reference_p50_ms)
    .filter((v): v is number => v !== null)
    .sort((a, b) => a - b);
  if (refP50s.length)
    options[0] = {
      ...options[0]!,
      p50_ms: refP50s[Math.floor(refP50s.length / 2)]!,
      reference_p50_ms: refP50s[Math.floor(refP50s.length / 2)]!,
    };
  const win = pickWinner(options, tie);
  return recordTuning(store, {
    device_class: o.deviceClass,
    shape,
    variant: win.variant,
    variant_options: win.variant_options,
    label: win.label,
    reference: ref.label,
    options,
    agent: measuredBy.size ? [...measuredBy].join(',') : (measurer?.agent ?? 'none (one option)'),
    settings: measurer?.settings ?? {},
    model: { ...o.model, pruning_rate: Number(ref.result.metadata.pruning_rate) },
  });
}

/** The tuning's options as text lines (ratio to the reference, its CI, p50 and graph size), winner marked. */
export function formatTuning(t: TuningRecord): string {
  const lines = t.options.map((o) => {
    const ci = o.ratio_ci ? ` [${o.ratio_ci[0].toFixed(3)}, ${o.ratio_ci[1].toFixed(3)}]` : '';
    const p50 = o.p50_ms === null ? '' : `, p50 ${o.p50_ms.toFixed(3)} ms`;
    return `${o.label === t.label ? '*' : ' '} ${o.label.padEnd(16)} ${o.reference ? 'reference' : `${o.ratio.toFixed(3)}${ci}`}${p50}, ${o.nodes} nodes`;
  });
  return [
    `tuned for class ${t.device_class} on ${t.agent}: ${t.label} (ratio ${t.options.find((o) => o.label === t.label)!.ratio.toFixed(3)} × ${t.reference})`,
    ...lines,
  ].join('\n');
}
