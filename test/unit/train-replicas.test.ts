/**
 * Data-parallel training (host/src/train/replicas.ts) with real worker threads: the sharded gradient equals
 * the full-batch gradient computed on one thread, training with two replicas follows the same trajectory
 * as with one (no dropout), and a replica's failure comes back as a clear error.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { addingProblem } from '../../host/src/data/adding.js';
import { loadDataset } from '../../host/src/data/dataset.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { ReplicaPool, resolveReplicas, shardSizes } from '../../host/src/train/replicas.js';
import { computeGradients, train } from '../../host/src/train/trainer.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { relErr } from '../helpers/numeric.js';

beforeAll(async () => {
  await initBackend();
});

const pools: ReplicaPool[] = [];
afterAll(() => pools.forEach((p) => p.close()));

/** Largest |a − b| over every parameter's gradient, relative to the largest |a|. */
function relativeGap(a: Map<string, tf.Tensor>, b: Map<string, tf.Tensor>): number {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  const flat = (m: Map<string, tf.Tensor>) => [...a.keys()].flatMap((name) => Array.from(m.get(name)!.dataSync()));
  return relErr(flat(b), flat(a));
}

describe('data-parallel replicas', () => {
  it('splits a batch into shards that cover it', () => {
    expect(shardSizes(10, 3)).toEqual([4, 3, 3]);
    expect(shardSizes(2, 3)).toEqual([1, 1, 0]);
    expect(shardSizes(32, 2)).toEqual([16, 16]);
  });

  it('the sharded gradient equals the full-batch gradient (continuous input, pruned operators)', () => {
    const data = addingProblem({ length: 48, train: 64, val: 8, test: 8, seed: 3 });
    const model = new SequenceModel(
      tinyConfig({ dModel: 8, dState: 4, nLayers: 2, inputSize: 2, numClasses: data.info.numClasses }),
      1,
    );
    model.setActive(1, [0, 2, 5]);
    const pool = new ReplicaPool(model, 3, { maxShard: 4, xShape: [48, 2] });
    pools.push(pool);
    const [batch] = [...data.train.batches(11)];
    const full = computeGradients(model, batch!.x, batch!.y, 0);
    const sharded = pool.gradients(batch!.x, batch!.y, 0, (x, y, s) => computeGradients(model, x, y, s));
    expect(relativeGap(full.grads, sharded.grads)).toBeLessThan(1e-5);
    expect(sharded.loss).toBeCloseTo(full.loss, 5);
    expect(sharded.hits).toBe(full.hits);
    // A changed parameter reaches the replicas before the next step: perturb, and compare again.
    const w = model.params.get('decoder.weight');
    w.assign(tf.mul(w, 1.5));
    const full2 = computeGradients(model, batch!.x, batch!.y, 0);
    const sharded2 = pool.gradients(batch!.x, batch!.y, 0, (x, y, s) => computeGradients(model, x, y, s));
    expect(relativeGap(full2.grads, sharded2.grads)).toBeLessThan(1e-5);
    expect(relativeGap(full.grads, full2.grads)).toBeGreaterThan(1e-3);
    pool.close();
    model.dispose();
  }, 120_000);

  it('the sharded gradient equals the full-batch gradient (token input)', async () => {
    const data = await loadDataset('listops', {
      minLength: 20,
      maxLength: 60,
      maxDepth: 4,
      maxArgs: 4,
      splits: { train: 32, val: 8, test: 8 },
    });
    const model = new SequenceModel(
      tinyConfig({
        dModel: 8,
        dState: 4,
        inputKind: 'tokens',
        inputSize: 1,
        vocabSize: data.info.vocabSize,
        numClasses: data.info.numClasses,
      }),
      2,
    );
    const pool = new ReplicaPool(model, 2, { maxShard: 8, xShape: [data.info.length] });
    pools.push(pool);
    const [batch] = [...data.train.batches(16)];
    const full = computeGradients(model, batch!.x, batch!.y, 0);
    const sharded = pool.gradients(batch!.x, batch!.y, 0, (x, y, s) => computeGradients(model, x, y, s));
    expect(relativeGap(full.grads, sharded.grads)).toBeLessThan(1e-5);
    pool.close();
    model.dispose();
  }, 120_000);

  it('the sharded gradient equals the full-batch gradient (multi-label targets)', () => {
    const model = new SequenceModel(
      tinyConfig({ dModel: 6, dState: 4, inputSize: 2, numClasses: 3, multiLabel: true }),
      5,
    );
    const pool = new ReplicaPool(model, 2, { maxShard: 4, xShape: [12, 2] });
    pools.push(pool);
    const x = tf.randomNormal([7, 12, 2], 0, 1, 'float32', 1);
    const y = tf.cast(tf.greater(tf.randomUniform([7, 3], 0, 1, 'float32', 2), 0.5), 'float32');
    const full = computeGradients(model, x, y, 0);
    const sharded = pool.gradients(x, y, 0, (xs, ys, s) => computeGradients(model, xs, ys, s));
    expect(relativeGap(full.grads, sharded.grads)).toBeLessThan(1e-5);
    expect(sharded.loss).toBeCloseTo(full.loss, 5);
    expect(sharded.hits).toBe(full.hits);
    pool.close();
    model.dispose();
  }, 120_000);

  it('training with two replicas follows the single-replica trajectory (no dropout)', () => {
    const data = addingProblem({ length: 40, train: 96, val: 16, test: 16, seed: 5 });
    const config = tinyConfig({ dModel: 8, dState: 4, nLayers: 2, inputSize: 2, numClasses: data.info.numClasses });
    const one = new SequenceModel(config, 4);
    const two = new SequenceModel(config, 4);
    const opts = { epochs: 1, batchSize: 16, lr: 5e-3, patience: 0, quiet: true, seed: 0 };
    const r1 = train(one, data, { ...opts, replicas: 1 });
    const r2 = train(two, data, { ...opts, replicas: 2 });
    expect(r1.options.replicas).toBe(1);
    expect(r2.options.replicas).toBe(2);
    const a = one.params.snapshot();
    const b = two.params.snapshot();
    let gap = 0;
    let moved = 0;
    const init = new SequenceModel(config, 4).params.snapshot();
    for (const [name, { values }] of a) {
      const other = b.get(name)!.values;
      for (let i = 0; i < values.length; i++) {
        gap = Math.max(gap, Math.abs(values[i]! - other[i]!));
        moved = Math.max(moved, Math.abs(values[i]! - init.get(name)!.values[i]!));
      }
    }
    expect(moved).toBeGreaterThan(1e-3);
    expect(gap).toBeLessThan(1e-4);
    expect(r2.epochs[0]!.trainLoss).toBeCloseTo(r1.epochs[0]!.trainLoss, 4);
    one.dispose();
    two.dispose();
  }, 120_000);

  it("a replica's failure is a clear error naming the problem", () => {
    const model = new SequenceModel(tinyConfig({ dModel: 4, dState: 4, nLayers: 1, inputSize: 2 }), 0);
    // Buffers shaped for 3 features per step while the model takes 2: the worker's forward refuses its shard
    // (this thread's shard is computed on well-formed input, so the failure is the worker's alone).
    const pool = new ReplicaPool(model, 2, { maxShard: 4, xShape: [10, 3] });
    pools.push(pool);
    const x = tf.zeros([8, 10, 3]);
    const y = tf.zeros([8], 'int32');
    const local = (_x: tf.Tensor, ys: tf.Tensor, s: number) =>
      computeGradients(model, tf.zeros([ys.shape[0]!, 10, 2]), ys, s);
    expect(() => pool.gradients(x, y, 0, local)).toThrow(
      /data-parallel replica failed: model input: expected \[batch, length, 2\], got \[4,10,3\]/,
    );
    expect(() => pool.gradients(x, y, 0, local)).toThrow(/closed/);
    model.dispose();
  }, 120_000);

  it('resolves the replica count: explicit, environment, and never with BatchNorm', () => {
    const model = new SequenceModel(tinyConfig(), 0);
    const bn = new SequenceModel(tinyConfig({ norm: 'batch' }), 0);
    expect(resolveReplicas(2, model, 32, 100)).toBe(2);
    expect(resolveReplicas(4, model, 2, 100)).toBe(2);
    expect(resolveReplicas(2, bn, 32, 100)).toBe(1);
    // Too little work per step for the hand-off to pay.
    expect(resolveReplicas(undefined, model, 4, 10)).toBe(1);
    expect(() => resolveReplicas(0, model, 32, 100)).toThrow(/replicas must be a positive integer/);
    const before = process.env.S4OP_REPLICAS;
    try {
      process.env.S4OP_REPLICAS = '3';
      expect(resolveReplicas(undefined, model, 32, 100)).toBe(3);
      process.env.S4OP_REPLICAS = 'two';
      expect(() => resolveReplicas(undefined, model, 32, 100)).toThrow(
        /S4OP_REPLICAS must be a positive integer, got "two"/,
      );
    } finally {
      if (before === undefined) delete process.env.S4OP_REPLICAS;
      else process.env.S4OP_REPLICAS = before;
    }
    model.dispose();
    bn.dispose();
  });
});
