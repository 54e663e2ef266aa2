/**
 * Which operators to prune: interchangeable per-channel importance criteria (higher = more important).
 *  - random(seed): the S4oP paper's choice, uniform scores from a seeded stream;
 *  - hinf: the channel kernel's H∞ norm, max_ω |Σ_l K[l]·e^{−iωl}| (sampled on a 4L-point grid);
 *  - energy: the kernel's impulse-response energy Σ_l K[l]²;
 *  - d: |D|, the skip term;
 *  - hinf-delta, energy-delta: the same norms of what bypassing changes, (K + (D − 1)·δ): a channel whose
 *    output already equals its input loses nothing when bypassed, whatever the size of its kernel;
 *  - ablation: the measured loss increase when the channel alone is bypassed, on training batches;
 *  - taylor: first-order estimate of the loss change from bypassing the channel, on training batches.
 *    Bypassing moves the channel's output y = K∗u + D·u to u; along y + ε(u − y) that is the same as
 *    D ← D + ε(1 − D), C ← (1 − ε)·C (the kernel is linear in C), so dℒ/dε = g_D·(1 − D) − Σ g_C·C.
 * Kernels come from the float64 cores the model trains with, read through each layer's SSM kind (model/ssm-layer.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset.js';
import type { SequenceModel } from '../model/model.js';
import { layerSsms } from '../model/ssm-layer.js';
import { fftFor, nextPow2 } from '../ssm/fft.js';
import { Rng } from '../util/random.js';

/** Scores per layer, one per active channel in the order of `model.active(i)`. */
export type LayerScores = number[][];

export interface ScoreContext {
  /** Sequence length the kernels are computed for (the dataset's L). */
  L: number;
  /** Seed of the random criterion and of the Taylor batches' order. */
  seed: number;
  /** Training data, for the Taylor saliency. */
  data?: Dataset;
  taylorBatches?: number;
  batchSize?: number;
}

export function randomScores(model: SequenceModel, seed: number): LayerScores {
  const rng = new Rng(seed);
  return Array.from({ length: model.config.nLayers }, (_, i) => {
    const layer = new Rng(rng.fork());
    return Array.from(model.active(i), () => layer.next());
  });
}

/**
 * H∞ norm (max over a 4L-point frequency grid) or energy of each active channel's kernel, all directions added.
 * With `delta`, of what bypassing changes: the kernel plus (D − 1) at lag 0 (the forward direction carries D).
 */
export function kernelScores(model: SequenceModel, L: number, kind: 'hinf' | 'energy', delta = false): LayerScores {
  if (!Number.isInteger(L) || L < 1)
    throw new Error(`importance: sequence length must be a positive integer, got ${L}`);
  return layerSsms(model).map((ssm) => {
    const A = ssm.active.length;
    const K = ssm.kernel(L);
    const n = nextPow2(4 * L);
    const fft = kind === 'hinf' ? fftFor(n) : undefined;
    const re = new Float64Array(n);
    const im = new Float64Array(n);
    return Array.from({ length: A }, (_, r) => {
      let score = 0;
      for (let d = 0; d < ssm.dirs; d++) {
        const row = Float64Array.from(K.subarray((d * A + r) * L, (d * A + r + 1) * L));
        if (delta && d === 0) row[0]! += ssm.D[r]! - 1;
        if (kind === 'energy') {
          for (const k of row) score += k * k;
          continue;
        }
        re.fill(0);
        im.fill(0);
        re.set(row);
        fft!.forward(re, im);
        // A real kernel's spectrum is Hermitian: half the grid suffices. Directions add their peaks (a bound).
        let peak = 0;
        for (let f = 0; f <= n / 2; f++) peak = Math.max(peak, Math.hypot(re[f]!, im[f]!));
        score += peak;
      }
      return score;
    });
  });
}

export function dScores(model: SequenceModel): LayerScores {
  return Array.from({ length: model.config.nLayers }, (_, i) => {
    const D = model.params.get(`s4_layers.${i}.D`).dataSync();
    return Array.from(model.active(i), (h) => Math.abs(D[h]!));
  });
}

/**
 * Mean over batches of |dℒ/dε| for bypassing each active channel (see the header), from real gradients of
 * the loss in inference mode (no dropout).
 */
export function taylorScores(
  model: SequenceModel,
  data: Dataset,
  opts: { batches?: number; batchSize?: number; seed?: number } = {},
): LayerScores {
  const { batches = 4, batchSize = 32, seed = 0 } = opts;
  const c = model.config;
  const H = c.dModel;
  const dirs = c.bidirectional ? 2 : 1;
  const M = c.dState / 2;
  const names = Array.from({ length: c.nLayers }, (_, i) => ({
    D: `s4_layers.${i}.D`,
    cRe: `s4_layers.${i}.kernel.C_re`,
    cIm: `s4_layers.${i}.kernel.C_im`,
  }));
  const vars = names.flatMap((n) => [model.params.get(n.D), model.params.get(n.cRe), model.params.get(n.cIm)]);
  const values = names.map((n) => ({
    D: model.params.get(n.D).dataSync(),
    cRe: model.params.get(n.cRe).dataSync(),
    cIm: model.params.get(n.cIm).dataSync(),
  }));
  const sums = Array.from({ length: c.nLayers }, () => new Float64Array(H));
  let used = 0;
  for (const batch of data.train.batches(batchSize, { seed })) {
    if (used >= batches) {
      batch.x.dispose();
      batch.y.dispose();
      break;
    }
    const { value, grads } = tf.variableGrads(
      () => model.loss(model.forward(batch.x, { training: false }), batch.y),
      vars,
    );
    value.dispose();
    names.forEach((n, i) => {
      const gD = grads[model.params.get(n.D).name]!.dataSync();
      const gRe = grads[model.params.get(n.cRe).name]!.dataSync();
      const gIm = grads[model.params.get(n.cIm).name]!.dataSync();
      const v = values[i]!;
      for (const h of model.active(i)) {
        let dL = gD[h]! * (1 - v.D[h]!);
        for (let d = 0; d < dirs; d++) {
          for (let m = 0; m < M; m++) {
            const k = (d * H + h) * M + m;
            dL -= gRe[k]! * v.cRe[k]! + gIm[k]! * v.cIm[k]!;
          }
        }
        sums[i]![h]! += Math.abs(dL);
      }
    });
    for (const g of Object.values(grads)) g.dispose();
    batch.x.dispose();
    batch.y.dispose();
    used += 1;
  }
  if (used === 0) throw new Error('importance: the training split has no batch for the Taylor saliency');
  return sums.map((s, i) => Array.from(model.active(i), (h) => s[h]! / used));
}

/** Loss increase (inference mode) when each active channel alone is bypassed, on `batches` training batches. */
export function ablationScores(
  model: SequenceModel,
  data: Dataset,
  opts: { batches?: number; batchSize?: number; seed?: number } = {},
): LayerScores {
  const { batches = 2, batchSize = 32, seed = 0 } = opts;
  const kept: { x: tf.Tensor; y: tf.Tensor }[] = [];
  for (const batch of data.train.batches(batchSize, { seed })) {
    if (kept.length >= batches) {
      batch.x.dispose();
      batch.y.dispose();
      break;
    }
    kept.push({ x: batch.x, y: batch.y });
  }
  if (!kept.length) throw new Error('importance: the training split has no batch for the ablation scores');
  const loss = () =>
    kept.reduce(
      (s, b) => s + tf.tidy(() => model.loss(model.forward(b.x, { training: false }), b.y).dataSync()[0]!),
      0,
    ) / kept.length;
  try {
    const base = loss();
    return Array.from({ length: model.config.nLayers }, (_, i) => {
      const active = Array.from(model.active(i));
      try {
        return active.map((h) => {
          model.setActive(
            i,
            active.filter((c) => c !== h),
          );
          return loss() - base;
        });
      } finally {
        model.setActive(i, active);
      }
    });
  } finally {
    for (const b of kept) {
      b.x.dispose();
      b.y.dispose();
    }
  }
}

/** Within each layer, ranks mapped to [0, 1] (lowest 0, highest 1; ties share their mean rank). */
export function rankNormalize(scores: LayerScores): LayerScores {
  return scores.map((layer) => {
    const n = layer.length;
    if (n === 1) return [1];
    const order = layer.map((s, k) => ({ s, k })).sort((a, b) => a.s - b.s);
    const out = new Array<number>(n);
    for (let i = 0; i < n;) {
      let j = i;
      while (j + 1 < n && order[j + 1]!.s === order[i]!.s) j++;
      const r = (i + j) / 2 / (n - 1);
      for (let t = i; t <= j; t++) out[order[t]!.k] = r;
      i = j + 1;
    }
    return out;
  });
}

/**
 * Each layer's scores divided by their mean magnitude, so layers compare on one scale (for score-following
 * allocation); the order within a layer is kept even when scores are negative (an ablation can lower the loss).
 */
export function normalizePerLayer(scores: LayerScores): LayerScores {
  return scores.map((layer) => {
    const scale = layer.reduce((a, b) => a + Math.abs(b), 0) / layer.length;
    return layer.map((s) => (scale > 0 ? s / scale : 0));
  });
}

/**
 * Channels to bypass: in layer i, the (counts[i] − already bypassed) active channels with the lowest scores
 * (ties to the higher channel index, so the choice is deterministic).
 */
export function chooseBypass(
  active: readonly (readonly number[])[],
  scores: LayerScores,
  counts: readonly number[],
  H: number,
): number[][] {
  return active.map((layer, i) => {
    const want = counts[i]! - (H - layer.length);
    if (want < 0)
      throw new Error(
        `importance: layer ${i} already has ${H - layer.length} bypassed, more than the ${counts[i]} asked for`,
      );
    if (want >= layer.length)
      throw new Error(
        `importance: layer ${i} cannot bypass ${want} of its ${layer.length} active channels (one must stay)`,
      );
    const s = scores[i]!;
    if (s.length !== layer.length)
      throw new Error(`importance: layer ${i} has ${layer.length} active channels but ${s.length} scores`);
    const order = layer.map((h, k) => ({ h, s: s[k]! })).sort((a, b) => a.s - b.s || b.h - a.h);
    return order
      .slice(0, want)
      .map((o) => o.h)
      .sort((a, b) => a - b);
  });
}
