/**
 * Benchmark (issue 14, SSM part): exported-model speed at every size, one onnxruntime-node thread, paired
 * against the previous export in the same process. The previous exporter is the one of git ref `--previous`
 * (default: the commit before this work), checked out into a temporary directory next to this script and
 * imported from there, so both graphs come from the same model object and run interleaved.
 *
 *   npx tsx scripts/bench/export-speed.ts [--previous 11cb89e] [--rounds 40] [--long-runs 5] [--skip-long]
 *
 * Measures: the demo model (S4D d_model 32, d_state 32, 4 layers, L 196) p50 for `auto`, each conv variant
 * and the previous export, and its 70 %-pruned candidate ÷ its base; the large model (d_model 128, d_state
 * 64, L 784) the same, with onnxruntime's profile split (SSM part / rest, GFLOP/s); step mode per step for
 * the large model (current and previous, interleaved); L = 4,096 and 16,384 (d_model 64, d_state 64, 4
 * layers; also 196 and 784): export time, bytes, session load time, p50 and GFLOP/s; SSM nodes per layer by L for every
 * variant. Timings interleave sessions within each round (k runs each), figures are medians; ratios are the
 * median over rounds of the per-round ratio. Writes results/export-speed.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import {
  CONV_VARIANTS,
  convVariantApplies,
  exportModel,
  initBackend,
  SequenceModel,
  type ExportOptions,
  type ExportResult,
  type ModelConfig,
} from '@s4op/host';
import { BENCH_DIR, benchS4dConfig, median, pruneSeeded, writeResult } from './common.js';
import { profileSections, round } from './ort-profile.js';

const { values: args } = parseArgs({
  options: {
    previous: { type: 'string', default: '11cb89e' },
    rounds: { type: 'string', default: '40' },
    'long-runs': { type: 'string', default: '5' },
    'skip-long': { type: 'boolean', default: false },
  },
});
const rounds = Number(args.rounds);
const longRuns = Number(args['long-runs']);
const loads: number[] = [loadavg()[0]!];

const sessionOptions: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' } } },
};

// The previous exporter, from git.
const prevDir = join(BENCH_DIR, `.previous-${args.previous}`);
rmSync(prevDir, { recursive: true, force: true });
mkdirSync(prevDir, { recursive: true });
execFileSync('sh', ['-c', `git archive ${args.previous} host/src | tar -x -C "${prevDir}"`], {
  cwd: join(BENCH_DIR, '../..'),
});
type Exporter = (model: SequenceModel, opts: ExportOptions) => ExportResult;
const previous = ((await import(join(prevDir, 'host/src/export/export.ts'))) as { exportModel: Exporter }).exportModel;
process.on('exit', () => rmSync(prevDir, { recursive: true, force: true }));

await initBackend('cpu');

interface Candidate {
  key: string;
  result: ExportResult;
  session: ort.InferenceSession;
  loadMs: number;
  /** Median of each round's runs. */
  perRound: number[];
}

async function candidate(key: string, result: ExportResult): Promise<Candidate> {
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(result.bytes, sessionOptions);
  const loadMs = performance.now() - t0;
  return { key, result, session, loadMs, perRound: [] };
}

/** Interleaved rounds: every candidate runs `perRound` times per round; the round's median is kept. */
async function timeRounds(
  cands: Candidate[],
  feeds: Record<string, ort.Tensor>,
  n: number,
  perRound: number,
): Promise<void> {
  for (const c of cands) for (let i = 0; i < 3; i++) await c.session.run(feeds);
  for (let r = 0; r < n; r++) {
    for (const c of cands) {
      const t: number[] = [];
      for (let k = 0; k < perRound; k++) {
        const t0 = performance.now();
        await c.session.run(feeds);
        t.push(performance.now() - t0);
      }
      c.perRound.push(median(t));
    }
  }
  loads.push(loadavg()[0]!);
}

const p50 = (c: Candidate) => median(c.perRound);
const ratio = (a: Candidate, b: Candidate) => median(a.perRound.map((t, i) => t / b.perRound[i]!));
const gflops = (c: Candidate) => (c.result.stats.flops.ssm + c.result.stats.flops.other) / 1e6 / p50(c);
const xFeed = (L: number) => ({
  x: new ort.Tensor(
    'float32',
    Float32Array.from({ length: L }, (_, i) => Math.sin(i / 17)),
    [1, L, 1],
  ),
});

function describe(c: Candidate): Record<string, unknown> {
  return {
    p50_ms: round(p50(c), 4),
    gflop_per_s: round(gflops(c), 1),
    nodes: c.result.stats.nodes,
    ssm_nodes: c.result.stats.ssmNodes,
    mflop: round((c.result.stats.flops.ssm + c.result.stats.flops.other) / 1e6, 2),
    bytes: c.result.bytes.length,
    load_ms: round(c.loadMs, 1),
    variant: c.result.variant,
    variant_params: JSON.parse(c.result.metadata.variant_params ?? '[]')[0] ?? {},
  };
}

async function sizeBench(name: string, cfg: ModelConfig, L: number, n: number, perRound: number, profile: boolean) {
  const model = new SequenceModel(cfg, 0);
  const cands: Candidate[] = [];
  for (const rate of [0, 70]) {
    pruneSeeded(model, rate);
    cands.push(await candidate(`previous@${rate}`, previous(model, { mode: 'conv', length: L })));
    cands.push(await candidate(`auto@${rate}`, exportModel(model, { mode: 'conv', length: L })));
    for (const v of CONV_VARIANTS.values()) {
      if (!convVariantApplies(v, cfg.ssm, L)) continue;
      if (v.name === 'fft' || v.name === 'direct') continue; // 4–20× slower at these sizes (export-latency.json)
      cands.push(
        await candidate(`${v.name}@${rate}`, exportModel(model, { mode: 'conv', variant: v.name, length: L })),
      );
    }
  }
  await timeRounds(cands, xFeed(L), n, perRound);
  const get = (k: string) => cands.find((c) => c.key === k)!;
  const out: Record<string, unknown> = {
    candidates: Object.fromEntries(cands.map((c) => [c.key, describe(c)])),
    ratio_vs_previous: round(ratio(get('auto@0'), get('previous@0')), 4),
    ratio_vs_previous_70: round(ratio(get('auto@70'), get('previous@70')), 4),
    ratio_70_over_base: round(ratio(get('auto@70'), get('auto@0')), 4),
    previous_ratio_70_over_base: round(ratio(get('previous@70'), get('previous@0')), 4),
    prefix_ratio_vs_previous: round(ratio(get('prefix@0'), get('previous@0')), 4),
  };
  if (profile) {
    const split: Record<string, unknown> = {};
    for (const k of ['auto@0', 'prefix@0', 'auto@70'])
      split[k] = await profileSections(
        get(k).result.bytes,
        xFeed(L),
        get(k).result.stats.flops,
        5 * perRound * 4,
        sessionOptions,
      );
    out.time_split_1_thread_profiled = split;
  }
  console.log(
    `${name}: auto ${round(p50(get('auto@0')), 3)} ms (${round(gflops(get('auto@0')), 1)} GFLOP/s), previous ${round(p50(get('previous@0')), 3)} ms, prefix ${round(p50(get('prefix@0')), 3)} ms; auto/previous ${out.ratio_vs_previous}, 70 %/base ${out.ratio_70_over_base}`,
  );
  for (const c of cands) await c.session.release();
  model.dispose();
  return out;
}

// 1. Demo and large model.
const demo = await sizeBench('demo (d_model 32, d_state 32, L 196)', benchS4dConfig(32, 32), 196, rounds, 20, true);
const large = await sizeBench(
  'large (d_model 128, d_state 64, L 784)',
  benchS4dConfig(128, 64),
  784,
  Math.max(8, rounds >> 2),
  3,
  true,
);

// 2. Step mode, large model: current and previous interleaved, one step per run, states fed back.
const stepModel = new SequenceModel(benchS4dConfig(128, 64), 0);
const stepUs: Record<string, number> = {};
{
  const runs = [
    ['current', exportModel(stepModel, { mode: 'step' })],
    ['previous', previous(stepModel, { mode: 'step' })],
    ['recurrent', exportModel(stepModel, { mode: 'step', variant: 'recurrent' })],
  ] as const;
  const st = await Promise.all(
    runs.map(async ([key, r]) => {
      const session = await ort.InferenceSession.create(r.bytes, sessionOptions);
      const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', new Float32Array(1), [1, 1]) };
      for (const s of r.states) {
        const dims = s.dims.map((d) => (d === 'batch' ? 1 : d));
        feeds[s.input] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
      }
      return { key, r, session, feeds, perRound: [] as number[] };
    }),
  );
  const steps = async (e: (typeof st)[number], n: number) => {
    for (let i = 0; i < n; i++) {
      const out = await e.session.run(e.feeds);
      for (const s of e.r.states) e.feeds[s.input] = out[s.output] as ort.Tensor;
    }
  };
  for (const e of st) await steps(e, 600);
  for (let round_ = 0; round_ < rounds; round_++) {
    for (const e of st) {
      const t0 = performance.now();
      await steps(e, 100);
      e.perRound.push(((performance.now() - t0) / 100) * 1000);
    }
  }
  for (const e of st) {
    stepUs[e.key] = round(median(e.perRound), 1);
    stepUs[`${e.key}_nodes`] = e.r.stats.nodes;
    await e.session.release();
  }
  stepUs.ratio = round(median(st[0]!.perRound.map((t, i) => t / st[1]!.perRound[i]!)), 4);
  stepUs.recurrent_ratio = round(median(st[2]!.perRound.map((t, i) => t / st[1]!.perRound[i]!)), 4);
  console.log(
    `step mode, large: ${stepUs.current} µs per step (auto = ${st[0]!.r.variant}), recurrent layout ${stepUs.recurrent} µs, previous ${stepUs.previous} µs`,
  );
}
loads.push(loadavg()[0]!);

// 3. Nodes per layer by L (d_model 64, d_state 64), and long sequences: bytes, load time, p50.
const longCfg = benchS4dConfig(64, 64);
const longModel = new SequenceModel(longCfg, 0);
const LENGTHS = [196, 784, 4096, 16384];
const nodesPerLayer: Record<string, Record<string, number>> = {};
const perLength: Record<string, Record<string, unknown>> = {};
for (const L of LENGTHS) {
  nodesPerLayer[L] = {};
  for (const v of CONV_VARIANTS.values()) {
    if (!convVariantApplies(v, longCfg.ssm, L)) continue; // toeplitz: up to its maxLength
    nodesPerLayer[L]![v.name] =
      exportModel(longModel, { mode: 'conv', variant: v.name, length: L }).stats.ssmNodes / longCfg.nLayers;
  }
  nodesPerLayer[L]!.step = exportModel(longModel, { mode: 'step' }).stats.ssmNodes / longCfg.nLayers;
}
if (!args['skip-long']) {
  for (const L of LENGTHS) {
    const cands: Candidate[] = [];
    const exportMs: Record<string, number> = {};
    for (const v of ['auto', 'prefix']) {
      const t0 = performance.now();
      const r = exportModel(longModel, { mode: 'conv', variant: v, length: L });
      exportMs[v] = performance.now() - t0;
      cands.push(await candidate(v, r));
    }
    await timeRounds(cands, xFeed(L), L >= 4096 ? longRuns : 4 * longRuns, L >= 4096 ? 1 : 5);
    perLength[L] = Object.fromEntries(
      cands.map((c) => [
        c.key,
        { ...describe(c), export_ms: round(exportMs[c.key]!, 0), initializer_bytes: c.result.stats.initializerBytes },
      ]),
    );
    for (const c of cands) await c.session.release();
    console.log(
      `L = ${L}: ${cands.map((c) => `${c.key} ${round(p50(c), 1)} ms, ${round(gflops(c), 1)} GFLOP/s, ${(c.result.bytes.length / 1e6).toFixed(1)} MB, load ${round(c.loadMs, 0)} ms`).join('; ')}`,
    );
  }
}

const split = (large.time_split_1_thread_profiled as Record<string, Record<string, { gflop_per_s: number }>>)[
  'auto@0'
]!;
const demoAuto = (demo.candidates as Record<string, { p50_ms: number }>)['auto@0']!;
const result = {
  threads: 1,
  rounds,
  previous_ref: args.previous,
  onnxruntime_node: ort.env.versions.node ?? ort.env.versions.common,
  demo_p50_ms: demoAuto.p50_ms,
  demo_ratio_vs_previous: demo.ratio_vs_previous,
  demo_ratio_70: demo.ratio_70_over_base,
  large_ratio_vs_previous: large.ratio_vs_previous,
  large_ssm_gflops: split.ssm!.gflop_per_s,
  step_us_large: stepUs.current,
  nodes_per_layer: nodesPerLayer,
  load_average: round(median(loads), 2),
  load_average_samples: loads.map((l) => round(l, 2)),
  peak_fraction_demo: null,
  peak_fraction_large: null,
  demo,
  large,
  step: stepUs,
  long_sequences_d_model_64: perLength,
  targets: {
    demo_p50_le_0_30_ms: demoAuto.p50_ms <= 0.3,
    demo_ratio_70_le_0_68: (demo.ratio_70_over_base as number) <= 0.68,
    large_ratio_le_0_8: (large.ratio_vs_previous as number) <= 0.8,
    large_ssm_ge_50_gflops: split.ssm!.gflop_per_s >= 50,
    step_le_70_us: stepUs.current! <= 70,
  },
};
console.log(`targets: ${JSON.stringify(result.targets)}`);
console.log(`wrote ${writeResult('export-speed', result)}`);
stepModel.dispose();
longModel.dispose();
