/**
 * Exported ONNX vs the host model, in onnxruntime-node and onnxruntime-web: for S4D and S4, unpruned and
 * 30 / 70 / 90 % pruned, every conv variant (prefix: S4D only) within 1e-4 of the host forward (relative to max |logit|), and
 * step mode run over the sequence within 1e-4 of conv mode (final and running logits). The variants are those of
 * the registry (export/variants/registry.ts): a variant added there is tested here without an edit.
 */
import * as tf from '@tensorflow/tfjs';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { exportModel } from '../../host/src/export/export.js';
import { decodeModel } from '../../host/src/export/onnx-builder.js';
import { runStepModel, type TensorClass } from '../../host/src/export/step-runner.js';
import { CONV_VARIANTS, variantNames } from '../../host/src/export/variants/registry.js';
import type { VariantOptions } from '../../host/src/export/variants/variant.js';
import type { ModelConfig } from '../../host/src/model/config.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { Rng } from '../../host/src/util/random.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { relErr } from '../helpers/numeric.js';
import { hostLogits, RUNTIMES, runConv, runStep } from '../helpers/onnx-run.js';

const TOL = 1e-4;
const B = 2;
const L = 40;
/**
 * Variant options worth testing beyond a variant's defaults, by name (any other registered variant: its defaults).
 * Block 16 over L = 40: three blocks of 14 with 2 steps of padding, so the state scan and padding both run.
 * Block 8: five blocks in one segment; block 1: 40 blocks in two segments of 20 (both prefix-sum levels). Scan:
 * its default (2 blocks of 20, no doubling level), 14 blocks of 3 (four levels, padding) and one block. Toeplitz:
 * its default (one block of 40), 14 blocks of 3 (padding) and 5 of 8.
 */
const OPTIONS: Record<string, VariantOptions[]> = {
  chunked: [{ block: 16 }],
  prefix: [{ block: 8 }, { block: 1 }],
  scan: [{}, { block: 3 }, { block: 40 }],
  toeplitz: [{}, { block: 3 }, { block: 8 }],
};
const VARIANTS = [...CONV_VARIANTS.values()].flatMap((v) =>
  (OPTIONS[v.name] ?? [{}]).map((variantOptions) => ({ variant: v.name, variantOptions })),
);
/** The variants that export `ssm` layers. */
const variantsFor = (ssm: 's4d' | 's4') =>
  VARIANTS.filter((v) => CONV_VARIANTS.get(v.variant)!.kinds?.includes(ssm) ?? true);
const label = (v: { variant: string; variantOptions: VariantOptions }) =>
  `${v.variant}${v.variantOptions.block === undefined ? '' : ` T=${v.variantOptions.block}`}`;
const RATES = [0, 0.3, 0.7, 0.9];

beforeAll(async () => {
  await initBackend('cpu');
  ortWeb.env.wasm.numThreads = 1;
});

/** A model with `rate` of each layer's operators bypassed, chosen by a seeded shuffle. */
function prunedModel(cfg: ModelConfig, rate: number, seed = 1): SequenceModel {
  const model = new SequenceModel(cfg, seed);
  const rng = new Rng(seed + 100);
  const H = cfg.dModel;
  const keep = Math.max(1, Math.round(H * (1 - rate)));
  for (let i = 0; i < cfg.nLayers; i++) {
    const perm = Array.from({ length: H }, (_, h) => h);
    for (let j = H - 1; j > 0; j--) {
      const k = Math.floor(rng.uniform(0, j + 1));
      [perm[j], perm[k]] = [perm[k]!, perm[j]!];
    }
    model.setActive(i, perm.slice(0, keep));
  }
  return model;
}

function input(cfg: ModelConfig, length = L): Float32Array {
  return Float32Array.from(
    { length: B * length * cfg.inputSize },
    (_, i) => Math.sin(0.37 * i) + 0.3 * Math.cos(1.7 * i),
  );
}

describe.each(['s4d', 's4'] as const)('%s export parity', (ssm) => {
  const cfg = tinyConfig({ ssm, dModel: 10, dState: 8, nLayers: 2 });
  const x = input(cfg);
  describe.each(RATES)('%s pruned', (rate) => {
    const model = prunedModel(cfg, rate);
    let ref: Float32Array;
    beforeAll(() => {
      ref = hostLogits(model, x, B, L);
    });

    it.each(RUNTIMES.flatMap(([name, ort]) => variantsFor(ssm).map((v) => [label(v), name, ort, v] as const)))(
      'conv variant %s matches the host forward in %s',
      async (_label, _name, ort, v) => {
        const r = exportModel(model, { mode: 'conv', length: L, ...v });
        const got = await runConv(ort, r.bytes, x, B, cfg.inputSize);
        expect(relErr(got, ref), `${v.variant} ${JSON.stringify(v.variantOptions)}`).toBeLessThan(TOL);
      },
    );

    it.each(RUNTIMES.flatMap(([name, ort]) => variantNames('step').map((v) => [name, ort, v] as const)))(
      'step mode over the sequence matches conv mode in %s, %s variant (final and running logits)',
      async (_name, ort, variant) => {
        const step = exportModel(model, { mode: 'step', variant });
        const run = await runStep(ort, step, x, B, L, cfg.inputSize);
        const conv = await runConv(
          ort,
          exportModel(model, { mode: 'conv', length: L, variant: 'chunked' }).bytes,
          x,
          B,
          cfg.inputSize,
        );
        expect(relErr(run.logits[L - 1]!, conv)).toBeLessThan(TOL);
        // The running prediction after t + 1 steps is the model's output on that prefix.
        const t = 17;
        const D = cfg.inputSize;
        const prefix = new Float32Array(B * (t + 1) * D);
        for (let b = 0; b < B; b++) prefix.set(x.subarray(b * L * D, (b * L + t + 1) * D), b * (t + 1) * D);
        expect(relErr(run.logits[t]!, hostLogits(model, prefix, B, t + 1))).toBeLessThan(TOL);
      },
    );
  });
});

describe('export parity: other architectures', () => {
  it('bidirectional S4D: every variant, pruned, with scatter and fold bypass', async () => {
    const cfg = tinyConfig({ dModel: 8, dState: 6, bidirectional: true });
    const model = prunedModel(cfg, 0.5, 4);
    const x = input(cfg);
    const ref = hostLogits(model, x, B, L);
    for (const v of variantsFor('s4d')) {
      for (const bypass of ['fold', 'scatter'] as const) {
        const got = await runConv(
          ortNode,
          exportModel(model, { mode: 'conv', length: L, bypass, ...v }).bytes,
          x,
          B,
          cfg.inputSize,
        );
        expect(relErr(got, ref), `${v.variant} ${bypass}`).toBeLessThan(TOL);
      }
    }
    expect(() => exportModel(model, { mode: 'step' })).toThrow(/step mode needs a causal model/);
  });

  it('tokens, pre-norm, BatchNorm, a fully bypassed layer, blocks that do not divide L', async () => {
    const cfg = tinyConfig({
      inputKind: 'tokens',
      vocabSize: 7,
      prenorm: true,
      norm: 'batch',
      nLayers: 3,
      dModel: 6,
      dState: 4,
    });
    const model = new SequenceModel(cfg, 9);
    // Non-trivial running statistics, so the folded BatchNorm is exercised.
    for (let i = 0; i < 3; i++) {
      model.params.set(
        `norms.${i}.running_mean`,
        Float32Array.from({ length: 6 }, (_, h) => 0.1 * (h - 2)),
        [6],
      );
      model.params.set(
        `norms.${i}.running_var`,
        Float32Array.from({ length: 6 }, (_, h) => 0.5 + 0.2 * h),
        [6],
      );
    }
    model.setActive(0, [1, 4]);
    model.setActive(1, []);
    const length = 23;
    const tokens = Int32Array.from({ length: B * length }, (_, i) => (i * 5 + 3) % 7);
    const ref = tf.tidy(
      () => model.forward(tf.tensor2d(tokens, [B, length], 'int32'), { training: false }).dataSync() as Float32Array,
    );
    const feeds = { tokens: new ortNode.Tensor('int64', BigInt64Array.from(tokens, BigInt), [B, length]) };
    const blocks = (v: string) => (OPTIONS[v] ? [5, 1, 64] : [undefined]);
    for (const [variant, block] of variantNames('conv').flatMap((v) => blocks(v).map((b) => [v, b] as const))) {
      const r = exportModel(model, { mode: 'conv', length, variant, variantOptions: { block } });
      const s = await ortNode.InferenceSession.create(r.bytes);
      const got = (await s.run(feeds)).logits!.data as Float32Array;
      expect(relErr(got, ref), `${variant} block ${block}`).toBeLessThan(TOL);
    }
    const step = exportModel(model, { mode: 'step', variant: 'recurrent' });
    expect(step.states.map((s) => s.input)).toEqual(['state_0', 'state_2', 'pool_sum', 'pool_count']);
    const packed = exportModel(model, { mode: 'step', variant: 'packed' });
    expect(packed.states).toEqual([
      { input: 'ssm_state', output: 'ssm_state_next', dims: ['batch', 8, 2, 3] },
      { input: 'pool', output: 'pool_next', dims: ['batch', 7] },
    ]);
    for (const r of variantNames('step').map((variant) => exportModel(model, { mode: 'step', variant }))) {
      const s = await ortNode.InferenceSession.create(r.bytes);
      const run = await runStepModel(s as never, ortNode.Tensor as unknown as TensorClass, r.states, {
        batch: B,
        length,
        tokens,
      });
      expect(relErr(run.logits[length - 1]!, ref), r.variant).toBeLessThan(TOL);
    }
  });

  it('the shortest sequences (L = 1, 2, 3) in every variant, causal and bidirectional', async () => {
    for (const bidirectional of [false, true]) {
      const cfg = tinyConfig({ bidirectional, dModel: 4, dState: 4 });
      const model = prunedModel(cfg, 0.5, 6);
      for (const length of [1, 2, 3]) {
        const x = input(cfg, length);
        const ref = hostLogits(model, x, B, length);
        for (const variant of variantNames('conv')) {
          const got = await runConv(
            ortNode,
            exportModel(model, { mode: 'conv', length, variant }).bytes,
            x,
            B,
            cfg.inputSize,
          );
          expect(relErr(got, ref), `${variant} L=${length} bidirectional=${bidirectional}`).toBeLessThan(TOL);
        }
      }
    }
  });

  it('long sequences: prefix (two-level segments, fast modes clamped) and chunked at L = 4,096 and 16,384', async () => {
    // dt up to 1: some modes decay by e^{−25} and more within a block, so the prefix tables clamp them.
    const cfg = tinyConfig({ dModel: 4, dState: 8, dtMin: 1e-3, dtMax: 1, bidirectional: false });
    for (const [length, bidirectional] of [
      [4096, false],
      [4096, true],
      [16384, false],
    ] as const) {
      const model = prunedModel({ ...cfg, bidirectional }, 0.25, 8);
      const x = input(cfg, length);
      const ref = hostLogits(model, x, B, length);
      for (const variant of ['prefix', 'chunked']) {
        const r = exportModel(model, { mode: 'conv', length, variant });
        const got = await runConv(ortNode, r.bytes, x, B, cfg.inputSize);
        expect(
          relErr(got, ref),
          `${variant} L=${length} bidirectional=${bidirectional} ${r.metadata.variant_params}`,
        ).toBeLessThan(TOL);
      }
    }
  });

  it.each(RUNTIMES)(
    'prefix with modes too fast for float32 tables (float64 carry, clamped decays) in %s',
    async (_name, ort) => {
      // dt up to 3: decays of e^{−12} per block of 8, so the power tables leave float32's range.
      const cfg = tinyConfig({ dModel: 6, dState: 8, dtMin: 0.5, dtMax: 3 });
      const model = prunedModel(cfg, 0.3, 5);
      const length = 200;
      const x = input(cfg, length);
      const r = exportModel(model, { mode: 'conv', length, variant: 'prefix', variantOptions: { block: 8 } });
      const doubles = decodeModel(r.bytes).graph!.initializer!.filter((t) => t.dataType === 11);
      expect(doubles.length).toBeGreaterThan(0);
      expect(relErr(await runConv(ort, r.bytes, x, B, cfg.inputSize), hostLogits(model, x, B, length))).toBeLessThan(
        TOL,
      );
    },
  );

  it('the comparison can fail: an export taken before pruning does not match the pruned model', async () => {
    const cfg = tinyConfig({ dModel: 8, dState: 4 });
    const model = new SequenceModel(cfg, 2);
    const unpruned = exportModel(model, { mode: 'conv', length: L, variant: 'chunked' });
    model.setActive(0, [0, 1, 2]);
    const x = input(cfg);
    const ref = hostLogits(model, x, B, L);
    expect(relErr(await runConv(ortNode, unpruned.bytes, x, B, cfg.inputSize), ref)).toBeGreaterThan(1e-3);
    expect(
      relErr(
        await runConv(
          ortNode,
          exportModel(model, { mode: 'conv', length: L, variant: 'chunked' }).bytes,
          x,
          B,
          cfg.inputSize,
        ),
        ref,
      ),
    ).toBeLessThan(TOL);
  });
});
