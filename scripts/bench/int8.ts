/**
 * Benchmark (issue 15, precision): float32 vs the two int8 graph forms of the export (precision int8:
 * DynamicQuantizeLinear → MatMulInteger → Cast → Mul; int8-qdq: DynamicQuantizeLinear → DequantizeLinear on
 * both operands → MatMul), conv mode, batch 1, one thread, on onnxruntime-node and onnxruntime-web (WASM) in
 * this process (int8-qdq is exportModel's { precision: 'int8', qdq: true }).
 *
 *   npx tsx scripts/bench/int8.ts [--rounds 40] [--sizes demo,large] [--runtimes onnxruntime-node,onnxruntime-web] [--out int8]
 *
 * On the emulated aarch64 board (Cortex-A72 under qemu-user; scripts/agent-arm64/run.sh sets it up), with
 * the exports made here first: sudo bash scripts/bench/int8-arm64.sh (writes results/int8-arm64.json).
 *
 * Sizes: the demo model (S4D d_model 64, d_state 64, 4 layers, L 196) and a larger one (d_model 256, same
 * otherwise). The three sessions of a size and runtime run interleaved (k runs each per round, the order
 * rotating every round); figures are medians of the round medians, ratios the median over rounds of the
 * per-round ratio to float32. Also records each form's logits error against float32 (max |Δ| / max |logit|,
 * random-init weights) and model bytes. Writes results/int8.json with the load average.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { benchS4dConfig, median, writeResult } from './common.js';
import { relErr } from '@s4op/host/testing';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '40' },
    sizes: { type: 'string', default: 'demo,large' },
    runtimes: { type: 'string', default: 'onnxruntime-node,onnxruntime-web' },
    out: { type: 'string', default: 'int8' },
    'models-dir': { type: 'string' },
  },
});
const rounds = Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds needs a positive integer, got ${args.rounds}`);

type Form = 'float32' | 'int8' | 'int8-qdq';
const FORMS: readonly Form[] = ['float32', 'int8', 'int8-qdq'];
const SIZES = {
  demo: { dModel: 64, dState: 64, L: 196, perRound: 10, rounds },
  large: { dModel: 256, dState: 64, L: 196, perRound: 3, rounds: Math.max(8, rounds >> 1) },
} as const;
type Ort = typeof ortNode;
const RUNTIMES: [string, Ort, Record<string, unknown>][] = [
  [
    'onnxruntime-node',
    ortNode,
    {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    },
  ],
  ['onnxruntime-web', ortWeb as unknown as Ort, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }],
];
ortWeb.env.wasm.numThreads = 1;

const loads: number[] = [loadavg()[0]!];
const round = (x: number, d = 4) => Number(x.toFixed(d));

const out: Record<string, unknown> = {};
const ratios: Record<string, Record<string, number>> = {};
for (const sizeName of args.sizes.split(',') as (keyof typeof SIZES)[]) {
  const size = SIZES[sizeName];
  if (!size) throw new Error(`unknown size ${sizeName}; expected ${Object.keys(SIZES).join(', ')}`);
  const exports = await modelsOf(sizeName);
  const x = Float32Array.from({ length: size.L }, (_, i) => Math.sin(i / 17));
  const perRuntime: Record<string, unknown> = {};
  for (const [rtName, ort, options] of RUNTIMES.filter(([n]) => args.runtimes.split(',').includes(n))) {
    const feeds = { x: new ort.Tensor('float32', x, [1, size.L, 1]) };
    const sessions = await Promise.all(
      FORMS.map(async (p) => ({ p, s: await ort.InferenceSession.create(exports.get(p)!, options as never) })),
    );
    const logits = new Map<Form, Float32Array>();
    for (const { p, s } of sessions) {
      logits.set(p, (await s.run(feeds)).logits!.data as Float32Array);
      for (let i = 0; i < 3; i++) await s.run(feeds);
    }
    const perRound = new Map<Form, number[]>(FORMS.map((p) => [p, []]));
    for (let r = 0; r < size.rounds; r++) {
      // Rotating the order spreads any position effect (caches, turbo) over the forms.
      for (let j = 0; j < sessions.length; j++) {
        const { p, s } = sessions[(j + r) % sessions.length]!;
        const t: number[] = [];
        for (let k = 0; k < size.perRound; k++) {
          const t0 = performance.now();
          await s.run(feeds);
          t.push(performance.now() - t0);
        }
        perRound.get(p)!.push(median(t));
      }
    }
    loads.push(loadavg()[0]!);
    const base = perRound.get('float32')!;
    const forms: Record<string, unknown> = {};
    for (const p of FORMS) {
      const ts = perRound.get(p)!;
      forms[p] = {
        p50_ms: round(median(ts), 4),
        ratio_vs_float32: round(median(ts.map((t, i) => t / base[i]!)), 4),
        logits_rel_err_vs_float32: round(relErr(logits.get(p)!, logits.get('float32')!), 5),
        bytes: exports.get(p)!.length,
      };
    }
    perRuntime[rtName] = forms;
    ratios[`${sizeName} ${rtName}`] = Object.fromEntries(
      FORMS.filter((p) => p !== 'float32').map((p) => [p, (forms[p] as { ratio_vs_float32: number }).ratio_vs_float32]),
    );
    console.log(
      `${sizeName} (d_model ${size.dModel}, L ${size.L}) ${rtName}: ${FORMS.map((p) => {
        const f = forms[p] as { p50_ms: number; ratio_vs_float32: number };
        return `${p} ${f.p50_ms} ms (${f.ratio_vs_float32}×)`;
      }).join(', ')}`,
    );
    for (const { s } of sessions) await s.release();
  }
  out[sizeName] = { d_model: size.dModel, d_state: size.dState, n_layers: 4, length: size.L, ...perRuntime };
}

/**
 * The three exports of a size: from --models-dir when it holds them (the emulated board's node cannot run the
 * exporter), else exported here (and written there when given).
 */
async function modelsOf(sizeName: keyof typeof SIZES): Promise<Map<Form, Uint8Array>> {
  const dir = args['models-dir'];
  const file = (p: Form) => `${dir}/${sizeName}-${p}.onnx`;
  if (dir && FORMS.every((p) => existsSync(file(p))))
    return new Map(FORMS.map((p) => [p, new Uint8Array(readFileSync(file(p)))]));
  const { exportModel, initBackend, SequenceModel } = await import('@s4op/host');
  await initBackend('cpu');
  const size = SIZES[sizeName];
  const model = new SequenceModel(benchS4dConfig(size.dModel, size.dState), 0);
  const models = new Map<Form, Uint8Array>();
  for (const p of FORMS) {
    const precision = p === 'float32' ? 'float32' : 'int8';
    models.set(p, exportModel(model, { mode: 'conv', length: size.L, precision, qdq: p === 'int8-qdq' }).bytes);
  }
  model.dispose();
  if (dir) {
    mkdirSync(dir, { recursive: true });
    for (const p of FORMS) writeFileSync(file(p), models.get(p)!);
  }
  return models;
}

const result = {
  machine: `${process.arch}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores`,
  threads: 1,
  batch: 1,
  rounds,
  onnxruntime_node: ortNode.env.versions.node ?? ortNode.env.versions.common,
  onnxruntime_web: ortWeb.env.versions.web ?? ortWeb.env.versions.common,
  load_average: round(median(loads), 2),
  load_average_samples: loads.map((l) => round(l, 2)),
  ratio_vs_float32: ratios,
  ...out,
};
console.log(`ratios vs float32: ${JSON.stringify(ratios)}`);
console.log(`wrote ${writeResult(args.out, result)}`);
