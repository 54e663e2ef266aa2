/**
 * Benchmark (issue 3): one training step (forward, backward, AdamW) of S4D with d_model 128, 4 layers,
 * d_state 64, L 784, batch 16, against a PyTorch reference of the same model (2 threads), side by side in
 * one run. Also the S4 step on the same shape, the kernel generation alone, and the S4D step with
 * data-parallel replicas against one thread (interleaved).
 *
 *   npx tsx scripts/bench/train-step.ts [--repeats 5] [--backend wasm] [--replicas 2]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  AdamW,
  applyGradients,
  computeGradients,
  initBackend,
  ReplicaPool,
  SequenceModel,
  trainStep,
  type ModelConfig,
} from '@s4op/host';
import { median, peakRssMb, runTorch, timeIt, writeResult } from './common.js';

const { values: args } = parseArgs({
  options: {
    repeats: { type: 'string', default: '5' },
    backend: { type: 'string' },
    'skip-torch': { type: 'boolean', default: false },
    'skip-s4': { type: 'boolean', default: false },
    /** Data-parallel replicas compared side by side with one (0: skip). */
    replicas: { type: 'string', default: '2' },
  },
});
const repeats = Number(args.repeats);
const shape = { dModel: 128, nLayers: 4, dState: 64, length: 784, batch: 16 };

const choice = await initBackend(args.backend);
console.log(`backend ${choice.name}; shape ${JSON.stringify(shape)}; ${repeats} repeats`);

function config(ssm: 's4d' | 's4'): ModelConfig {
  return {
    ssm,
    dModel: shape.dModel,
    dState: shape.dState,
    nLayers: shape.nLayers,
    inputKind: 'continuous',
    inputSize: 1,
    numClasses: 10,
    multiLabel: false,
    prenorm: false,
    norm: 'layer',
    dropout: 0.1,
    bidirectional: false,
    init: 'lin',
    dtMin: 1e-3,
    dtMax: 1e-1,
  };
}

function benchStep(ssm: 's4d' | 's4') {
  const model = new SequenceModel(config(ssm), 0);
  const opt = new AdamW(model.params.trainable(), {
    groups: { default: { lr: 4e-3, weightDecay: 0.01 }, ssm: { lr: 1e-3, weightDecay: 0 } },
  });
  const x = tf.randomUniform([shape.batch, shape.length, 1]);
  const y = tf.tensor1d(
    Array.from({ length: shape.batch }, (_, i) => i % 10),
    'int32',
  );
  let seed = 0;
  const step = timeIt(() => trainStep(model, opt, x, y, { lrScale: 1, clip: 1, seed: seed++ }), repeats, 2);
  // Kernel generation alone (layer 0): forward + hand-written backward through the custom op.
  const kernelParams = model.params
    .list()
    .filter((p) => p.name.startsWith('s4_layers.0.kernel.'))
    .map((p) => p.variable);
  const kernelOnly = timeIt(
    () => {
      const { grads } = tf.variableGrads(() => tf.sum(model.layerKernel(0, shape.length)), kernelParams);
      for (const g of Object.values(grads)) g.dispose();
    },
    repeats,
    1,
  );
  x.dispose();
  y.dispose();
  opt.dispose();
  model.dispose();
  return { step_s: step.median_s, step_times_s: step.times_s, kernel_fwd_bwd_s: kernelOnly.median_s };
}

/**
 * The same S4D step on one thread and with data-parallel replicas (host/src/train/replicas.ts), interleaved
 * round by round so both see the same machine load.
 */
function benchReplicas(replicas: number) {
  const one = new SequenceModel(config('s4d'), 0);
  const many = new SequenceModel(config('s4d'), 0);
  const groups = { default: { lr: 4e-3, weightDecay: 0.01 }, ssm: { lr: 1e-3, weightDecay: 0 } };
  const opt1 = new AdamW(one.params.trainable(), { groups });
  const optN = new AdamW(many.params.trainable(), { groups });
  const pool = new ReplicaPool(many, replicas, {
    maxShard: Math.ceil(shape.batch / replicas),
    xShape: [shape.length, 1],
  });
  const x = tf.randomUniform([shape.batch, shape.length, 1]);
  const y = tf.tensor1d(
    Array.from({ length: shape.batch }, (_, i) => i % 10),
    'int32',
  );
  const t1: number[] = [];
  const tN: number[] = [];
  try {
    for (let r = -1; r < repeats; r++) {
      let t = performance.now();
      trainStep(one, opt1, x, y, { lrScale: 1, clip: 1, seed: r });
      if (r >= 0) t1.push((performance.now() - t) / 1000);
      t = performance.now();
      const g = pool.gradients(x, y, r, (xs, ys, s) => computeGradients(many, xs, ys, s));
      applyGradients(optN, g.grads, { lrScale: 1, clip: 1 });
      if (r >= 0) tN.push((performance.now() - t) / 1000);
    }
  } finally {
    pool.close();
    x.dispose();
    y.dispose();
    opt1.dispose();
    optN.dispose();
    one.dispose();
    many.dispose();
  }
  const m1 = median(t1);
  const mN = median(tN);
  return { replicas, step_s_1: m1, step_s_n: mN, speedup: m1 / mN, times_1_s: t1, times_n_s: tN };
}

const s4d = benchStep('s4d');
console.log(
  `ours S4D step: median ${s4d.step_s.toFixed(3)} s; kernel fwd+bwd ${(s4d.kernel_fwd_bwd_s * 1000).toFixed(1)} ms`,
);
let s4: ReturnType<typeof benchStep> | undefined;
if (!args['skip-s4']) {
  try {
    s4 = benchStep('s4');
    console.log(
      `ours S4 step: median ${s4.step_s.toFixed(3)} s; kernel fwd+bwd ${(s4.kernel_fwd_bwd_s * 1000).toFixed(1)} ms`,
    );
  } catch (err) {
    console.log(`S4 step skipped: ${(err as Error).message}`);
  }
}
// Peak RSS of the one-thread measurements (the replicas' worker holds a second tfjs backend and model).
const rss = peakRssMb();
const dataParallel = Number(args.replicas) > 1 ? benchReplicas(Number(args.replicas)) : undefined;
if (dataParallel) {
  console.log(
    `S4D step with ${dataParallel.replicas} data-parallel replicas: median ${dataParallel.step_s_n.toFixed(3)} s vs ${dataParallel.step_s_1.toFixed(3)} s on one (speed-up ${dataParallel.speedup.toFixed(2)}×, interleaved)`,
  );
}
const rssWithReplicas = peakRssMb();
let torch: Record<string, unknown> = {};
if (!args['skip-torch']) {
  torch = runTorch([
    'train-step',
    '--d-model',
    `${shape.dModel}`,
    '--layers',
    `${shape.nLayers}`,
    '--d-state',
    `${shape.dState}`,
    '--length',
    `${shape.length}`,
    '--batch',
    `${shape.batch}`,
    '--threads',
    '2',
    '--repeats',
    `${repeats}`,
  ]);
  console.log(
    `torch ${String(torch.torch_version)} (${String(torch.threads)} threads) step: median ${(torch.torch_s as number).toFixed(3)} s`,
  );
}
const torchS = torch.torch_s as number | undefined;
const result = {
  ours_s: s4d.step_s,
  torch_s: torchS ?? null,
  ratio: torchS ? s4d.step_s / torchS : null,
  backend: choice.name,
  peak_rss_mb: rss,
  shape,
  ours_step_times_s: s4d.step_times_s,
  ours_kernel_fwd_bwd_ms: s4d.kernel_fwd_bwd_s * 1000,
  s4_step_s: s4?.step_s ?? null,
  s4_kernel_fwd_bwd_ms: s4 ? s4.kernel_fwd_bwd_s * 1000 : null,
  torch_kernel_fwd_bwd_ms: torch.torch_kernel_fwd_bwd_s ? (torch.torch_kernel_fwd_bwd_s as number) * 1000 : null,
  data_parallel: dataParallel ? { ...dataParallel, peak_rss_mb: rssWithReplicas } : null,
  ratio_data_parallel: torchS && dataParallel ? dataParallel.step_s_n / torchS : null,
  torch_version: torch.torch_version ?? null,
  torch_threads: torch.threads ?? null,
};
console.log(`ratio ours/torch = ${result.ratio?.toFixed(2) ?? 'n/a'}; peak RSS ${rss} MB`);
console.log(`wrote ${writeResult('train-step', result)}`);
