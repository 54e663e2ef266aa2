/**
 * Which states to prune: LAST's layer normalisation, then one threshold over all layers.
 *
 * Raw scores are not comparable across layers (their scale follows each layer's C and dt), so within a
 * layer each score is divided by the total of the scores at least as large (Gwak et al., LAST):
 *   h̃_i = h_i / Σ_{j in layer: h_j ≥ h_i} h_j,
 * which puts the layer's largest at 1 and is non-increasing as h_i falls. The n lowest h̃ over all layers
 * are then pruned, where n = round(fraction × modes of active channels) counts modes pruned before too.
 */
import type { SequenceModel } from '../../model/model.js';
import { checkActive } from '../../ssm/channels.js';
import { stateScores } from './scores.js';

/**
 * LAST's normalisation of one layer's scores (finite, ≥ 0). Equal scores are ranked by index, lower first,
 * as the cumulative sum over sorted scores in the LAST code does, so the largest is exactly 1 (the
 * formula's "h_j ≥ h_i" would give two tied maxima ½ each). A layer of zeros normalises to zeros.
 */
export function lastNormalize(scores: ArrayLike<number>): Float64Array {
  const n = scores.length;
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (!(Number.isFinite(s) && s >= 0))
      throw new Error(`state pruning: scores must be finite and ≥ 0, got ${s} at index ${i}`);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const out = new Float64Array(n);
  let cum = 0;
  for (const i of order) {
    cum += scores[i]!;
    out[i] = cum > 0 ? scores[i]! / cum : 0;
  }
  return out;
}

/** Scores and channels for chooseStateMasks without a model. */
export interface StateLayers {
  /** Per layer, a score per state (length H·M, index h·M + m). */
  scores: readonly ArrayLike<number>[];
  /** Per layer, its active channels (sorted); bypassed channels' states are neither counted nor pruned. */
  active: readonly ArrayLike<number>[];
  /** Modes per channel (d_state / 2). */
  M: number;
}

export interface StateMaskOptions {
  /** With a model: the criterion (registry.ts) that scores it; default 'last'. Ignored with StateLayers. */
  criterion?: string;
  /** With a model: the random criterion's seed; default 0. */
  seed?: number;
  /** Current masks per layer ([H·M], 1 = kept, 0 = pruned); default all kept. They stay pruned. */
  masks?: readonly Uint8Array[];
  /**
   * 'free' (default): the threshold's choice as it is, channels keeping different counts (the export pads each
   * layer to its widest channel). 'balanced': the threshold decides how many modes each layer keeps, and every
   * active channel of the layer keeps the same count, its highest-scored modes, so nothing is padded.
   */
  layout?: StateLayout;
}

export type StateLayout = 'free' | 'balanced';
export const STATE_LAYOUTS: readonly StateLayout[] = ['free', 'balanced'];

export interface StateMasks {
  /** Per layer [H·M]: 1 = kept, 0 = pruned. Bypassed channels' entries are copied from the input masks. */
  masks: Uint8Array[];
  /** Modes of active channels pruned now, those pruned before included. */
  pruned: number;
  /** round(fraction × total): what was asked for; more than `pruned` only where one per layer must stay. */
  requested: number;
  /** Modes of active channels over all layers. */
  total: number;
}

/**
 * Masks pruning round(fraction × total) modes of active channels, the lowest LAST-normalised scores over
 * all layers first (ties: lower layer, then lower index). The fraction is cumulative: modes already
 * masked stay masked and count toward it, and the normalisation runs over each layer's remaining modes.
 * At least one mode stays kept in every layer that has an active channel; where that makes the request
 * impossible, as many as allowed are pruned and `pruned` says how many.
 */
export function chooseStateMasks(
  from: SequenceModel | StateLayers,
  fraction: number,
  opts: StateMaskOptions = {},
): StateMasks {
  if (!(Number.isFinite(fraction) && fraction >= 0 && fraction <= 1))
    throw new Error(`state pruning: fraction must be in [0, 1], got ${fraction}`);
  const layers = 'scores' in from ? from : modelLayers(from, opts);
  const { scores, M } = layers;
  if (!Number.isInteger(M) || M < 1) throw new Error(`state pruning: M must be a positive integer, got ${M}`);
  if (layers.active.length !== scores.length)
    throw new Error(`state pruning: ${scores.length} layers of scores but ${layers.active.length} of active channels`);
  if (opts.masks && opts.masks.length !== scores.length)
    throw new Error(`state pruning: ${scores.length} layers of scores but ${opts.masks.length} masks`);

  const masks: Uint8Array[] = [];
  // Per layer: its remaining (active, kept) states and how many of them may still go.
  const live: number[][] = [];
  let total = 0;
  let already = 0;
  scores.forEach((s, l) => {
    const H = s.length / M;
    if (!Number.isInteger(H) || H < 1)
      throw new Error(`state pruning: layer ${l} has ${s.length} scores, not a multiple of M = ${M}`);
    const active = Int32Array.from(layers.active[l]!);
    checkActive(active, H);
    const prior = opts.masks?.[l];
    if (prior && prior.length !== H * M)
      throw new Error(`state pruning: layer ${l}'s mask has ${prior.length} entries, expected H·M = ${H * M}`);
    const mask = prior ? Uint8Array.from(prior) : new Uint8Array(H * M).fill(1);
    const kept: number[] = [];
    for (const h of active) {
      for (let i = h * M; i < (h + 1) * M; i++) {
        if (mask[i] === 1) kept.push(i);
        else if (mask[i] === 0) already++;
        else throw new Error(`state pruning: layer ${l}'s mask holds ${mask[i]} at ${i} (masks are 0 or 1)`);
      }
    }
    if (active.length > 0 && kept.length === 0)
      throw new Error(`state pruning: layer ${l}'s mask prunes every mode of its active channels (one must stay)`);
    total += active.length * M;
    masks.push(mask);
    live.push(kept);
  });

  const requested = Math.round(fraction * total);
  if (already > requested)
    throw new Error(
      `state pruning: ${already} modes are already pruned, more than the ${requested} asked for ` +
        `(fraction ${fraction} of ${total}); the fraction is cumulative`,
    );
  const candidates: { l: number; i: number; s: number }[] = [];
  live.forEach((kept, l) => {
    const norm = lastNormalize(kept.map((i) => scores[l]![i]!));
    kept.forEach((i, k) => candidates.push({ l, i, s: norm[k]! }));
  });
  candidates.sort((a, b) => a.s - b.s || a.l - b.l || a.i - b.i);
  const left = live.map((k) => k.length);
  let pruned = already;
  for (const c of candidates) {
    if (pruned >= requested) break;
    if (left[c.l]! <= 1) continue;
    masks[c.l]![c.i] = 0;
    left[c.l]!--;
    pruned++;
  }
  if ((opts.layout ?? 'free') === 'free') return { masks, pruned, requested, total };
  return balance(masks, layers, opts.masks, total, requested);
}

/**
 * Per layer, the count the threshold kept over the active channels, spread evenly: each channel keeps
 * max(1, round(kept / channels)) of its modes still kept, the highest-scored first (ties: lower index).
 * Modes pruned before stay pruned (a channel can keep no more than it has).
 */
function balance(
  free: Uint8Array[],
  layers: StateLayers,
  prior: readonly Uint8Array[] | undefined,
  total: number,
  requested: number,
): StateMasks {
  const { M } = layers;
  let pruned = 0;
  const masks = free.map((mask, l) => {
    const active = Array.from(layers.active[l]!);
    const out = prior?.[l] ? Uint8Array.from(prior[l]!) : new Uint8Array(mask.length).fill(1);
    if (!active.length) return out;
    let kept = 0;
    for (const h of active) for (let m = 0; m < M; m++) kept += mask[h * M + m]!;
    const k = Math.max(1, Math.round(kept / active.length));
    const scores = layers.scores[l]!;
    for (const h of active) {
      const live = Array.from({ length: M }, (_, m) => h * M + m)
        .filter((i) => out[i] === 1)
        .sort((a, b) => scores[b]! - scores[a]! || a - b);
      for (const i of live.slice(k)) out[i] = 0;
      pruned += M - Math.min(k, live.length);
    }
    return out;
  });
  return { masks, pruned, requested, total };
}

function modelLayers(model: SequenceModel, opts: StateMaskOptions): StateLayers {
  return {
    scores: stateScores(model, opts.criterion ?? 'last', opts.seed ?? 0),
    active: Array.from({ length: model.config.nLayers }, (_, i) => model.active(i)),
    M: model.config.dState / 2,
  };
}
