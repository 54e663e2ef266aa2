/**
 * Speed of the S4 (DPLR) kernel op, one layer: forward, and forward + backward through tf.grads, on the
 * wasm backend (or S4OP_BACKEND), for all channels active and for half of them (pruned channels must cost
 * nothing). Prints medians over repeats and writes results/s4-kernel.json.
 *
 *   npx tsx scripts/bench/s4-kernel.ts [--repeats 7] [--H 128] [--N 64] [--L 784]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@s4op/host';
import {
  s4KernelBackward,
  s4KernelForward,
  initS4,
  s4ParamsFromArrays,
  s4Channel,
  type S4Params,
  s4Kernel,
} from '@s4op/host/ssm';
import { intArg as arg, median } from './common.js';

const repeats = arg('repeats', 7);
const H = arg('H', 128);
const N = arg('N', 64);
const L = arg('L', 784);

interface Timing {
  median_ms: number;
  min_ms: number;
  cpu_ms: number;
}

/**
 * Median and min wall time (ms) of fn over `repeats` runs after one warm-up run, and the mean CPU time
 * of this process per run (less sensitive than wall time when other jobs share the cores).
 */
function time(fn: () => void): Timing {
  fn();
  const xs: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    median_ms: +median(xs).toFixed(2),
    min_ms: +Math.min(...xs).toFixed(2),
    cpu_ms: +((cpu.user + cpu.system) / 1000 / repeats).toFixed(2),
  };
}

const choice = await initBackend(process.env.S4OP_BACKEND ?? 'wasm');
const init = initS4(H, N, { seed: 1 });
const p = s4ParamsFromArrays(init);
const FIELDS = ['logDt', 'lambdaRe', 'lambdaIm', 'pRe', 'pIm', 'bRe', 'bIm', 'cRe', 'cIm'] as const;

function opTimes(active: Int32Array) {
  const G = tf.randomNormal([active.length, L], 0, 1, 'float32', 3);
  const loss = (...ts: tf.Tensor[]) => {
    const q = {} as Record<string, tf.Tensor>;
    FIELDS.forEach((f, i) => (q[f] = ts[i]!));
    return tf.sum(tf.mul(s4Kernel(q as unknown as S4Params, L, active), G));
  };
  const forward = time(() => {
    const k = s4Kernel(p, L, active);
    k.dataSync();
    k.dispose();
  });
  const forwardBackward = time(() => {
    const grads = tf.grads(loss)(FIELDS.map((f) => p[f]));
    grads.forEach((g) => g.dataSync());
    tf.dispose(grads);
  });
  G.dispose();
  return { channels: active.length, forward, forward_backward: forwardBackward };
}

const all = Int32Array.from({ length: H }, (_, h) => h);
const half = Int32Array.from({ length: H >> 1 }, (_, i) => 2 * i);
const full = opTimes(all);
const pruned = opTimes(half);

// The float64 core alone, one channel, to separate JS math from tensor plumbing.
const ch = s4Channel(init, 0);
const g = new Float64Array(L).fill(1);
const inner = 20; // one channel is ~1 ms: time batches of 20 calls, report per call
const perCall = (t: Timing): Timing => ({
  median_ms: +(t.median_ms / inner).toFixed(3),
  min_ms: +(t.min_ms / inner).toFixed(3),
  cpu_ms: +(t.cpu_ms / inner).toFixed(3),
});
const coreForward = perCall(
  time(() => {
    for (let i = 0; i < inner; i++) s4KernelForward(ch, L);
  }),
);
const coreBackward = perCall(
  time(() => {
    for (let i = 0; i < inner; i++) s4KernelBackward(ch, L, g, s4KernelForward(ch, L).cache);
  }),
);

const result = {
  name: 's4-kernel',
  backend: choice.name,
  H,
  N,
  L,
  L_truncation: Math.max(2, 2 ** Math.ceil(Math.log2(L))),
  repeats,
  all_channels: full,
  half_channels: pruned,
  core_one_channel: { forward: coreForward, forward_plus_backward: coreBackward },
  cpu: os.cpus()[0]?.model ?? 'unknown',
  node: process.version,
  date: new Date().toISOString(),
};
console.log(`S4 kernel, ${choice.name} backend, H=${H} N=${N} L=${L} (median of ${repeats})`);
const fmt = (t: Timing) => `${t.median_ms} ms (cpu ${t.cpu_ms} ms)`;
console.log(`  all ${H} channels: forward ${fmt(full.forward)}, forward+backward ${fmt(full.forward_backward)}`);
console.log(
  `  ${half.length} channels: forward ${fmt(pruned.forward)}, forward+backward ${fmt(pruned.forward_backward)}`,
);
console.log(`  float64 core, one channel: forward ${fmt(coreForward)}, forward+backward ${fmt(coreBackward)}`);
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}s4-kernel.json`, `${JSON.stringify(result, null, 2)}\n`);
console.log(`  wrote ${dir}s4-kernel.json`);
FIELDS.forEach((f) => p[f].dispose());
