import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { addingProblem } from '../../host/src/data/adding.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { evaluate, train } from '../../host/src/train/trainer.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(async () => {
  await initBackend();
});

describe('learnability', () => {
  it('a small S4D learns the adding problem at L = 200 to near-perfect accuracy', () => {
    // One marker in the first tenth, one in the second half: the answer needs memory across ~100+ steps.
    const data = addingProblem({ length: 200, train: 3000, val: 200, test: 400, seed: 1, digits: 2 });
    const model = new SequenceModel(
      tinyConfig({ dModel: 32, dState: 16, nLayers: 2, inputSize: 2, numClasses: data.info.numClasses }),
      0,
    );
    const before = evaluate(model, data.test).metric;
    const record = train(model, data, {
      epochs: 10,
      batchSize: 32,
      lr: 1e-2,
      lrSsm: 1e-3,
      patience: 3,
      seed: 0,
      quiet: true,
    });
    const after = evaluate(model, data.test).metric;
    expect(before).toBeLessThan(0.7);
    expect(
      after,
      `test accuracy after ${record.steps} steps (val by epoch ${record.epochs.map((e) => e.valMetric.toFixed(3)).join(', ')})`,
    ).toBeGreaterThanOrEqual(0.97);
    model.dispose();
  }, 600_000);
});
