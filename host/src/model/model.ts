import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/random.js';
import { validateConfig, type ModelConfig } from './config.js';
import { batchNorm, channelDropout, gelu, layerNorm, linear, linearGlu, type BatchNormState } from './layers.js';
import { ParamStore } from './params.js';
import type { SsmKernel } from './kinds/kind.js';
import { ssmKind, statePruningRefusal } from './kinds/registry.js';
import { createSsm } from './ssm-layer.js';
import { ssmConv } from '../ssm/conv/op.js';

export interface ForwardOptions {
  training: boolean;
  /** Seed for this step's dropout masks (training only). */
  seed?: number;
}

/**
 * Sequence classifier from the S4D example: encoder → n × [norm?, SSM, GELU, dropout, Linear(H→2H)+GLU,
 * residual, norm?] → mean over time → decoder. Each layer carries its set of active operators (channels);
 * a bypassed channel's SSM output is its input, and no SSM work is done for it.
 */
export class SequenceModel {
  readonly config: ModelConfig;
  readonly params = new ParamStore();
  private readonly ssm: SsmKernel[] = [];
  private readonly bn: BatchNormState[] = [];
  private readonly activeSets: Int32Array[] = [];
  /** Per layer: kept modes [H·M] (1 = kept), or null when every mode is kept. */
  private readonly stateMasks: (Uint8Array | null)[] = [];

  constructor(config: ModelConfig, seed = 0) {
    this.config = validateConfig({ ...config });
    const rng = new Rng(seed);
    const { dModel: H, nLayers } = this.config;
    const uniformInit = (fanIn: number, size: number) => {
      // PyTorch's default for Linear/Conv1d weights and biases: U(−1/√fan_in, 1/√fan_in).
      const bound = 1 / Math.sqrt(fanIn);
      return Float32Array.from({ length: size }, () => rng.uniform(-bound, bound));
    };
    const c = this.config;
    if (c.inputKind === 'continuous') {
      this.params.add('encoder.weight', uniformInit(c.inputSize, c.inputSize * H), [c.inputSize, H], 'default');
      this.params.add('encoder.bias', uniformInit(c.inputSize, H), [H], 'default');
    } else {
      const V = c.vocabSize!;
      this.params.add(
        'encoder.weight',
        Float32Array.from({ length: V * H }, () => rng.normal()),
        [V, H],
        'default',
      );
    }
    for (let i = 0; i < nLayers; i++) {
      this.ssm.push(createSsm(this.params, `s4_layers.${i}.kernel`, c, rng.fork()));
      this.params.add(
        `s4_layers.${i}.D`,
        Float32Array.from({ length: H }, () => rng.normal()),
        [H],
        'ssm',
      );
      this.params.add(`s4_layers.${i}.output_linear.weight`, uniformInit(H, H * 2 * H), [H, 2 * H], 'default');
      this.params.add(`s4_layers.${i}.output_linear.bias`, uniformInit(H, 2 * H), [2 * H], 'default');
      this.params.add(`norms.${i}.weight`, new Float32Array(H).fill(1), [H], 'default');
      this.params.add(`norms.${i}.bias`, new Float32Array(H), [H], 'default');
      if (c.norm === 'batch') {
        this.bn.push({
          runningMean: this.params.add(`norms.${i}.running_mean`, new Float32Array(H), [H], 'default', false),
          runningVar: this.params.add(`norms.${i}.running_var`, new Float32Array(H).fill(1), [H], 'default', false),
          momentum: 0.1,
        });
      }
      this.activeSets.push(Int32Array.from({ length: H }, (_, h) => h));
      this.stateMasks.push(null);
    }
    this.params.add('decoder.weight', uniformInit(H, H * c.numClasses), [H, c.numClasses], 'default');
    this.params.add('decoder.bias', uniformInit(H, c.numClasses), [c.numClasses], 'default');
  }

  /** Sorted channel indices of layer `i` whose SSM runs. */
  active(i: number): Int32Array {
    return this.activeSets[i]!;
  }

  /** Sets layer `i`'s active operators; every other channel is bypassed (kernel 0, D 1). */
  setActive(i: number, channels: Iterable<number>): void {
    const H = this.config.dModel;
    if (i < 0 || i >= this.config.nLayers)
      throw new Error(`layer ${i} out of range (model has ${this.config.nLayers})`);
    const set = Int32Array.from(new Set(channels)).sort();
    for (const h of set) {
      if (!Number.isInteger(h) || h < 0 || h >= H) throw new Error(`layer ${i}: channel ${h} out of range [0, ${H})`);
    }
    this.activeSets[i] = set;
  }

  /** Layer `i`'s kept modes ([H·M], index h·M + m, 1 = kept), or null when no state is pruned. */
  stateMask(i: number): Uint8Array | null {
    return this.stateMasks[i] ?? null;
  }

  /**
   * Prunes states of layer `i`: modes whose `mask` entry is 0 are removed (their read-out C set to 0 here,
   * held at 0 by the kernel through training, and absent from exports). Null keeps every mode. Only for SSM
   * kinds whose modes are independent (S4D).
   */
  setStateMask(i: number, mask: ArrayLike<number> | null): void {
    const c = this.config;
    if (i < 0 || i >= c.nLayers) throw new Error(`layer ${i} out of range (model has ${c.nLayers})`);
    if (mask === null) {
      this.stateMasks[i] = null;
      return;
    }
    const kind = ssmKind(c.ssm);
    const pruning = kind.statePruning;
    if (!pruning) throw new Error(statePruningRefusal(c.ssm));
    const n = c.dModel * (c.dState / 2);
    if (mask.length !== n)
      throw new Error(`layer ${i}: state mask has ${mask.length} entries, expected d_model·d_state/2 = ${n}`);
    const kept = Uint8Array.from(mask, (v) => {
      if (v !== 0 && v !== 1) throw new Error(`layer ${i}: state mask entries must be 0 or 1, got ${v}`);
      return v;
    });
    this.stateMasks[i] = kept.every((v) => v === 1) ? null : kept;
    // Zero the masked modes' C in the weights too, so a checkpoint holds the model it describes.
    for (const field of pruning.readout) {
      const name = `s4_layers.${i}.kernel.${kind.paramNames[field]}`;
      const t = this.params.get(name);
      const values = Float32Array.from(t.dataSync() as Float32Array, (v, j) => (kept[j % n] ? v : 0));
      this.params.set(name, values, t.shape);
    }
  }

  /** Pruned mode indices (h·M + m) per layer, as plain arrays (for checkpoints and metadata). */
  prunedStates(): number[][] {
    return this.stateMasks.map((m) => (m ? Array.from(m.keys()).filter((j) => m[j] === 0) : []));
  }

  /** Layer `i`'s kernel rows for its active operators ([dirs·active, L]); differentiable. */
  layerKernel(i: number, L: number): tf.Tensor2D {
    return this.ssm[i]!.kernel(L, this.activeSets[i]!, this.stateMasks[i]);
  }

  /** Active operators of every layer, as plain arrays (for configs and metadata). */
  activeOperators(): number[][] {
    return this.activeSets.map((a) => Array.from(a));
  }

  /** Logits [B, numClasses] for x: continuous float32 [B, L, inputSize] or tokens int32 [B, L]. */
  forward(x: tf.Tensor, opts: ForwardOptions): tf.Tensor2D {
    const c = this.config;
    const P = (name: string) => this.params.get(name);
    const dropSeed = new Rng(opts.seed ?? 0);
    let h: tf.Tensor3D;
    if (c.inputKind === 'continuous') {
      if (x.rank !== 3 || x.shape[2] !== c.inputSize) {
        throw new Error(`model input: expected [batch, length, ${c.inputSize}], got [${x.shape}]`);
      }
      h = linear(x, P('encoder.weight') as tf.Tensor2D, P('encoder.bias') as tf.Tensor1D) as tf.Tensor3D;
    } else {
      if (x.rank !== 2) throw new Error(`model input: expected token ids [batch, length], got [${x.shape}]`);
      // One-hot matmul instead of gather: gather's gradient needs UnsortedSegmentSum, which wasm lacks.
      const onehot = tf.oneHot(tf.cast(x, 'int32'), c.vocabSize!);
      h = linear(onehot, P('encoder.weight') as tf.Tensor2D) as tf.Tensor3D;
    }
    const L = h.shape[1];
    for (let i = 0; i < c.nLayers; i++) {
      let z: tf.Tensor3D = h;
      if (c.prenorm) z = this.norm(i, z, opts.training);
      const active = this.activeSets[i]!;
      const kernel = this.layerKernel(i, L);
      z = ssmConv(z, kernel, P(`s4_layers.${i}.D`) as tf.Tensor1D, active, { bidirectional: c.bidirectional });
      z = gelu(z) as tf.Tensor3D;
      if (opts.training) z = channelDropout(z, c.dropout, dropSeed.fork());
      z = linearGlu(
        z,
        P(`s4_layers.${i}.output_linear.weight`) as tf.Tensor2D,
        P(`s4_layers.${i}.output_linear.bias`) as tf.Tensor1D,
      ) as tf.Tensor3D;
      if (opts.training) z = channelDropout(z, c.dropout, dropSeed.fork());
      h = tf.add(z, h);
      if (!c.prenorm) h = this.norm(i, h, opts.training);
    }
    const pooled = tf.mean(h, 1) as tf.Tensor2D;
    return linear(pooled, P('decoder.weight') as tf.Tensor2D, P('decoder.bias') as tf.Tensor1D) as tf.Tensor2D;
  }

  private norm(i: number, x: tf.Tensor3D, training: boolean): tf.Tensor3D {
    const w = this.params.get(`norms.${i}.weight`) as tf.Tensor1D;
    const b = this.params.get(`norms.${i}.bias`) as tf.Tensor1D;
    if (this.config.norm === 'layer') return layerNorm(x, w, b) as tf.Tensor3D;
    return batchNorm(x, w, b, this.bn[i]!, training) as tf.Tensor3D;
  }

  /** Mean loss: softmax cross-entropy on class ids, or binary cross-entropy on multi-hot targets. */
  loss(logits: tf.Tensor2D, y: tf.Tensor): tf.Scalar {
    if (this.config.multiLabel) {
      return tf.losses.sigmoidCrossEntropy(y, logits, undefined, 0, tf.Reduction.MEAN) as tf.Scalar;
    }
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(tf.cast(y, 'int32'), this.config.numClasses);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), -1))) as tf.Scalar;
  }

  /** Trainable parameter count; with `activeOnly`, bypassed operators' SSM parameters are not counted. */
  parameterCount(activeOnly = false): number {
    const total = this.params.count();
    if (!activeOnly) return total;
    let removed = 0;
    for (let i = 0; i < this.config.nLayers; i++) {
      const bypassed = this.config.dModel - this.activeSets[i]!.length;
      removed += bypassed * this.ssm[i]!.paramsPerChannel + bypassed; // + D
      const mask = this.stateMasks[i];
      if (mask) {
        // A pruned mode of an active channel: its A (real, imaginary) and C (per direction).
        const M = this.config.dState / 2;
        const perMode = 2 + 2 * (this.config.bidirectional ? 2 : 1);
        for (const h of this.activeSets[i]!) for (let m = 0; m < M; m++) if (!mask[h * M + m]) removed += perMode;
      }
    }
    return total - removed;
  }

  dispose(): void {
    this.params.dispose();
  }
}
