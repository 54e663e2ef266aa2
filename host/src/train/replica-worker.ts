/**
 * A data-parallel replica (see replicas.ts): builds the same model on its own tfjs backend, then, per job,
 * loads the published parameters, computes the gradients of its shard and writes them back.
 */
import { workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend.js';
import { SequenceModel } from '../model/model.js';
import { configureSsmThreads } from '../ssm/wasm/wasm-core.js';
import { CTL, type ReplicaWorkerData } from './replicas.js';
import { computeGradients } from './trainer.js';

const d = workerData as ReplicaWorkerData;
const ctl = new Int32Array(d.ctl);
const params = new Float32Array(d.params);
const grads = new Float32Array(d.grads);
const xs = new Float32Array(d.x);
const ys = new Float32Array(d.y);
const out = new Float64Array(d.out);
const text = new Uint8Array(d.text);
const xPerExample = d.xShape.reduce((a, b) => a * b, 1);
const { inputKind, multiLabel, numClasses } = d.config;

function report(err: unknown): void {
  const bytes = new TextEncoder().encode(err instanceof Error ? err.message : String(err)).subarray(0, text.length);
  text.set(bytes);
  Atomics.store(ctl, CTL.textBytes, bytes.length);
}

async function start(): Promise<SequenceModel | undefined> {
  try {
    await initBackend(d.backend);
    configureSsmThreads({ threads: 1 });
    const model = new SequenceModel(d.config, 0);
    d.active.forEach((a, i) => model.setActive(i, a));
    const names = model.params.trainable().map((p) => p.name);
    if (names.join() !== d.layout.map((e) => e.name).join())
      throw new Error('the replica built a model with other parameters');
    Atomics.store(ctl, CTL.ready, 1);
    return model;
  } catch (err) {
    report(err);
    Atomics.store(ctl, CTL.ready, -1);
    return undefined;
  } finally {
    Atomics.notify(ctl, CTL.ready);
  }
}

/** Serves jobs until told to exit; blocks this thread between jobs (Atomics.wait). */
function serve(model: SequenceModel): void {
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, CTL.seq, seen);
    seen = Atomics.load(ctl, CTL.seq);
    if (ctl[CTL.command]! < 0) return;
    let status = 0;
    try {
      const n = ctl[CTL.shard]!;
      for (const e of d.layout) model.params.set(e.name, params.slice(e.offset, e.offset + e.size), e.shape);
      const x = tf.tensor(xs.slice(0, n * xPerExample), [n, ...d.xShape], inputKind === 'tokens' ? 'int32' : 'float32');
      // As the dataset gives them: int32 class ids [n], or float32 multi-hot rows [n, numClasses].
      const y = multiLabel
        ? tf.tensor(ys.slice(0, n * numClasses), [n, numClasses], 'float32')
        : tf.tensor(ys.slice(0, n), [n], 'int32');
      const r = computeGradients(model, x, y, ctl[CTL.seed]!);
      x.dispose();
      y.dispose();
      for (const e of d.layout) {
        const g = r.grads.get(e.name);
        if (g) grads.set(g.dataSync() as Float32Array, e.offset);
        else grads.fill(0, e.offset, e.offset + e.size);
        g?.dispose();
      }
      out[0] = r.loss;
      out[1] = r.hits;
    } catch (err) {
      report(err);
      status = 1;
    }
    Atomics.store(ctl, CTL.status, status);
    Atomics.store(ctl, CTL.done, seen);
    Atomics.notify(ctl, CTL.done);
  }
}

// No top-level await: from sources this file is loaded as CommonJS (see replicas.ts).
void start().then((model) => model && serve(model));
