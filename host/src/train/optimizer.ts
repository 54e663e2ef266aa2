import * as tf from '@tensorflow/tfjs';
import type { Param, ParamGroup } from '../model/params.js';

export interface GroupSettings {
  lr: number;
  weightDecay: number;
}

export interface AdamWOptions {
  groups: Record<ParamGroup, GroupSettings>;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with parameter groups: each group has its own base
 * learning rate and weight decay; a schedule scales every group's rate by the same factor per step.
 */
export class AdamW {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;

  constructor(
    private readonly params: Param[],
    readonly options: AdamWOptions,
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    for (const p of params) {
      this.m.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
      this.v.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
    }
  }

  get step(): number {
    return this.t;
  }

  /** One update with `grads` keyed by parameter name; `scale` multiplies every group's learning rate. */
  apply(grads: Map<string, tf.Tensor>, scale = 1): void {
    this.t += 1;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    tf.tidy(() => {
      for (const p of this.params) {
        const g = grads.get(p.name);
        if (!g) continue;
        const { lr, weightDecay } = this.options.groups[p.group];
        const rate = lr * scale;
        const m = this.m.get(p.name)!;
        const v = this.v.get(p.name)!;
        const m1 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(m1);
        v.assign(v1);
        const update = tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), this.eps));
        let next = tf.sub(p.variable, tf.mul(update, rate));
        if (weightDecay > 0) next = tf.sub(next, tf.mul(p.variable, rate * weightDecay));
        p.variable.assign(next);
      }
    });
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** Scales gradients in place so that their global L2 norm is at most `maxNorm`; returns the norm before. */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): number {
  const norm = tf.tidy(() => {
    const squares = [...grads.values()].map((g) => tf.sum(tf.square(g)));
    return tf.sqrt(tf.addN(squares)).dataSync()[0]!;
  });
  if (Number.isFinite(maxNorm) && maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, s));
      g.dispose();
    }
  }
  return norm;
}
