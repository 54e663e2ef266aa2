import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { SequenceModel } from '../../host/src/model/model.js';
import type { ModelConfig } from '../../host/src/model/config.js';
import { Rng } from '../../host/src/util/random.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(async () => {
  await initBackend('cpu');
});

/**
 * Whole-model gradient check: for every parameter tensor, the analytic directional derivative ⟨∇f, v⟩
 * (tf.variableGrads through the custom SSM ops and everything around them) against a central finite
 * difference of the loss along a random direction v. The model computes in float32, so the step is
 * moderate and the tolerance relative (the custom ops are checked in float64 on their own).
 */
function gradCheck(config: ModelConfig, active?: number[][]): { name: string; analytic: number; numeric: number }[] {
  const model = new SequenceModel(config, 11);
  active?.forEach((a, i) => model.setActive(i, a));
  const B = 2;
  const L = 10;
  const x =
    config.inputKind === 'tokens'
      ? tf.tensor2d(
          Int32Array.from({ length: B * L }, (_, i) => (i * 7) % config.vocabSize!),
          [B, L],
          'int32',
        )
      : tf.randomNormal([B, L, config.inputSize], 0, 1, 'float32', 3);
  const y = config.multiLabel
    ? tf.tensor2d([
        [1, 0, 1],
        [0, 1, 1],
      ])
    : tf.tensor1d([1, 2], 'int32');
  const loss = () => model.loss(model.forward(x, { training: false }), y);
  const params = model.params.trainable();
  const { grads } = tf.variableGrads(
    loss,
    params.map((p) => p.variable),
  );
  const rng = new Rng(5);
  const out: { name: string; analytic: number; numeric: number }[] = [];
  for (const p of params) {
    const v = Float32Array.from({ length: p.variable.size }, () => rng.normal());
    const g = grads[p.variable.name]!.dataSync();
    let analytic = 0;
    for (let i = 0; i < v.length; i++) analytic += g[i]! * v[i]!;
    const base = p.variable.dataSync().slice() as Float32Array;
    const eps = 1e-2;
    const at = (s: number) => {
      p.variable.assign(
        tf.tensor(
          base.map((b, i) => b + s * eps * v[i]!),
          p.variable.shape,
        ),
      );
      return tf.tidy(() => loss().dataSync()[0]!);
    };
    const numeric = (at(1) - at(-1)) / (2 * eps);
    p.variable.assign(tf.tensor(base, p.variable.shape));
    out.push({ name: p.name, analytic, numeric });
  }
  model.dispose();
  return out;
}

function expectClose(results: { name: string; analytic: number; numeric: number }[]) {
  for (const r of results) {
    // The floor is the finite difference's float32 resolution (ulp of the loss / step), not a loosened bound.
    const scale = Math.max(Math.abs(r.analytic), Math.abs(r.numeric), 5e-3);
    expect(
      Math.abs(r.analytic - r.numeric) / scale,
      `${r.name}: analytic ${r.analytic} vs numeric ${r.numeric}`,
    ).toBeLessThan(2e-2);
  }
}

describe('full-model gradient check (directional finite differences)', () => {
  it('S4D, post-norm LayerNorm, continuous input', () => {
    const r = gradCheck(tinyConfig());
    expect(r.length).toBeGreaterThan(10);
    expectClose(r);
  });

  it('S4D with bypassed operators, pre-norm, tokens, multi-label', () => {
    expectClose(
      gradCheck(tinyConfig({ prenorm: true, inputKind: 'tokens', vocabSize: 7, numClasses: 3, multiLabel: true }), [
        [0, 3, 5],
        [2],
      ]),
    );
  });

  it('S4D bidirectional with BatchNorm', () => {
    expectClose(gradCheck(tinyConfig({ bidirectional: true, norm: 'batch' })));
  });
});

describe('full-model gradient check, S4 (DPLR)', () => {
  it('S4 blocks with a bypassed operator', () => {
    expectClose(
      gradCheck(tinyConfig({ ssm: 's4' }), [
        [0, 1, 2, 4, 5],
        [0, 1, 2, 3, 4, 5],
      ]),
    );
  });
});
