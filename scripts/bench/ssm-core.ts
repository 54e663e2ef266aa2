/**
 * Speed of the S4D core ops (one layer): s4dKernel and ssmConv, forward and forward+backward, on the
 * wasm backend (or S4OP_BACKEND). Prints medians over repeats and writes results/ssm-core.json.
 * The convolution runs on the default thread count (S4OP_SSM_THREADS) and, for comparison, on one.
 *
 *   npx tsx scripts/bench/ssm-core.ts [--repeats 9] [--H 128] [--N 64] [--L 784] [--B 16]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, Rng } from '@s4op/host';
import {
  convSize,
  releaseConvSaved,
  ssmConvBackward,
  ssmConvForward,
  wasmAvailable,
  configureSsmThreads,
  ssmThreadInfo,
  ssmConv,
  s4dKernel,
  initS4D,
} from '@s4op/host/ssm';
import { intArg as arg, median } from './common.js';

const repeats = arg('repeats', 9);
const H = arg('H', 128);
const N = arg('N', 64);
const L = arg('L', 784);
const B = arg('B', 16);

interface Timing {
  median_ms: number;
  min_ms: number;
  /** Process CPU time (user + system) per call: steadier than wall time on a shared machine. */
  cpu_median_ms: number;
}

/** Wall and CPU time (ms) of fn over `repeats` runs after 2 warm-up runs. */
function time(fn: () => void): Timing {
  fn();
  fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const r = (x: number) => +x.toFixed(2);
  return { median_ms: r(median(wall)), min_ms: r(Math.min(...wall)), cpu_median_ms: r(median(cpu)) };
}

const choice = await initBackend(process.env.S4OP_BACKEND ?? 'wasm');
const M = N / 2;
const p = initS4D(H, N, { seed: 1 });
const params = {
  logDt: tf.tensor1d(p.logDt),
  logAReal: tf.tensor2d(p.logAReal, [H, M]),
  aImag: tf.tensor2d(p.aImag, [H, M]),
  cRe: tf.tensor2d(p.cRe, [H, M]),
  cIm: tf.tensor2d(p.cIm, [H, M]),
};
const active = Int32Array.from({ length: H }, (_, h) => h);
const rng = new Rng(2);
const uData = Float32Array.from({ length: B * L * H }, () => rng.normal());
const u = tf.tensor3d(uData, [B, L, H]);
const d = tf.tensor1d(Float32Array.from({ length: H }, () => rng.normal()));
const k = tf.tidy(() => s4dKernel(params, L, active));
const kData = k.dataSync() as Float32Array;
const dData = d.dataSync() as Float32Array;
// Upstream gradients handed straight to tf.grads: the timings are the ops' own, no loss ops around them.
const wK = tf.randomNormal([H, L]);
const half = Int32Array.from({ length: H / 2 }, (_, i) => 2 * i);
const kHalf = tf.tidy(() => s4dKernel(params, L, half));
const wY = tf.randomNormal([B, L, H]);

const results = {
  // (Never return typed arrays from tf.tidy: it walks them element by element looking for tensors.)
  kernel_forward: time(() => tf.tidy(() => void s4dKernel(params, L, active).dataSync())),
  kernel_forward_backward: time(() =>
    tf.tidy(() => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, e: tf.Tensor, f: tf.Tensor) =>
        s4dKernel(
          {
            logDt: a as tf.Tensor1D,
            logAReal: b as tf.Tensor2D,
            aImag: c as tf.Tensor2D,
            cRe: e as tf.Tensor2D,
            cIm: f as tf.Tensor2D,
          },
          L,
          active,
        ),
      )([params.logDt, params.logAReal, params.aImag, params.cRe, params.cIm], wK);
      g.forEach((t) => t.dataSync());
    }),
  ),
  conv_forward: time(() => tf.tidy(() => void ssmConv(u, k, d, active).dataSync())),
  conv_forward_backward: time(() =>
    tf.tidy(() => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        ssmConv(a as tf.Tensor3D, b as tf.Tensor2D, c as tf.Tensor1D, active),
      )([u, k, d], wY);
      g.forEach((t) => t.dataSync());
    }),
  ),
  // The JS core alone (no tensor copies), to see what the tfjs wrapping costs.
  conv_forward_backward_1_thread: (() => {
    const threads = ssmThreadInfo().threads;
    configureSsmThreads({ threads: 1 });
    const t = time(() =>
      tf.tidy(() => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          ssmConv(a as tf.Tensor3D, b as tf.Tensor2D, c as tf.Tensor1D, active),
        )([u, k, d], wY);
        g.forEach((x) => x.dataSync());
      }),
    );
    configureSsmThreads({ threads });
    return t;
  })(),
  // Pruned layer: half the operators bypassed (no SSM work for them).
  conv_forward_backward_half_active: time(() =>
    tf.tidy(() => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        ssmConv(a as tf.Tensor3D, b as tf.Tensor2D, c as tf.Tensor1D, half),
      )([u, kHalf, d], wY);
      g.forEach((t) => t.dataSync());
    }),
  ),
  conv_core_forward_backward: time(() => {
    const y = new Float32Array(uData.length);
    const saved = ssmConvForward(uData, kData, dData, active, { B, L, H }, y, { saveSpectra: 'float32' });
    ssmConvBackward(saved, uData, new Float32Array(uData.length));
    releaseConvSaved(saved);
  }),
};

const report = {
  bench: 'ssm-core',
  date: new Date().toISOString(),
  backend: choice.name,
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  shape: { H, N, L, B, fft_size: convSize(L) },
  conv_engine: wasmAvailable(convSize(L)) ? 'wasm' : 'js',
  conv_threads: ssmThreadInfo().threads,
  load_average: os.loadavg().map((x) => +x.toFixed(2)),
  repeats,
  results,
};
for (const [name, r] of Object.entries(results)) {
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(
    `${name.padEnd(34)} wall median ${f(r.median_ms)} ms  min ${f(r.min_ms)} ms   cpu median ${f(r.cpu_median_ms)} ms`,
  );
}
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}ssm-core.json`, `${JSON.stringify(report, null, 2)}\n`);
console.log(`backend ${choice.name}, H=${H} N=${N} L=${L} B=${B}; wrote scripts/bench/results/ssm-core.json`);
