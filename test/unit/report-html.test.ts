/**
 * A report rendered from a recorded run (a real SQLite run store with known numbers): every chart is
 * present as inline SVG, and its marks carry the run's numbers (Vega writes each mark's fields into its
 * aria-label, which is what is read back here). Expected values are computed in the test from the inputs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../host/src/store/run-store.js';
import { StoreAgentRegistry } from '../../host/src/fleet/link/registry-store.js';
import { renderRunReport } from '../../host/src/report/index.js';

const H = 4;
const LAYERS = 3;
interface Spec {
  step: number;
  rate: number;
  seed: number;
  active: number[][];
  val: number;
  test: number;
  p50: number;
  p90: number;
  temp: [number, number];
  chosen: boolean;
  throttled?: boolean;
}
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const SPECS: Spec[] = [
  {
    step: 0,
    rate: 0,
    seed: 0,
    active: [range(4), range(4), range(4)],
    val: 0.9,
    test: 0.88,
    p50: 2.5,
    p90: 2.9,
    temp: [41, 44],
    chosen: true,
  },
  {
    step: 1,
    rate: 30,
    seed: 0,
    active: [range(4), range(3), [0, 2]],
    val: 0.86,
    test: 0.85,
    p50: 2.1,
    p90: 2.4,
    temp: [44, 47.5],
    chosen: false,
  },
  {
    step: 1,
    rate: 30,
    seed: 1,
    active: [range(4), [1, 2, 3], [3]],
    val: 0.87,
    test: 0.86,
    p50: 1.9,
    p90: 2.2,
    temp: [47, 49],
    chosen: true,
  },
  {
    step: 2,
    rate: 60,
    seed: 0,
    active: [[0, 1, 2], [1], [3]],
    val: 0.8,
    test: 0.79,
    p50: 1.6,
    p90: 1.8,
    temp: [49, 52.25],
    chosen: true,
    throttled: true,
  },
  // Dominated on both axes by step 1 seed 1: not on the Pareto front.
  {
    step: 2,
    rate: 60,
    seed: 1,
    active: [[0, 1, 2], [2], [0]],
    val: 0.78,
    test: 0.77,
    p50: 1.95,
    p90: 2.3,
    temp: [52, 53],
    chosen: false,
  },
];
const OTHER = [
  { step: 0, rate: 0, active: [range(4), range(4), range(4)], val: 0.9 },
  { step: 1, rate: 50, active: [range(4), [0, 1], [2]], val: 0.885 },
];
const pruned = (s: Pick<Spec, 'active'>) => 1 - s.active.flat().length / (H * LAYERS);
const label = (s: Spec) => (s.step === 0 ? 'base' : `step ${s.step} · ${s.rate}% · seed ${s.seed}`);
const r2 = (v: number) => Math.round(v * 1e4) / 100;
/** Paired ratio to the base (2.5 ms) as the fixture records it, rounded like the charts. */
const ratio = (s: Spec) => (s.step === 0 ? 1 : Number((s.p50 / SPECS[0]!.p50).toFixed(4)));
/** Pareto front by brute force over (val higher, ratio lower). */
const front = SPECS.filter(
  (a) =>
    !SPECS.some((b) => b !== a && b.val >= a.val && ratio(b) <= ratio(a) && (b.val > a.val || ratio(b) < ratio(a))),
);

/** The optional figures a newer agent reports, stored with step 1 seed 1's measurement. */
const WORK = {
  models: [
    {
      achieved_gflops: 12.345,
      peak_fraction: 0.2468,
      profile: { by_section: { ssm: 0.75, mixing: 0.15, norm: 0.05, other: 0.05 } },
    },
  ],
  background_load: { other_cpu_fraction: 0.41, busy: true },
};

let dir: string;
let html: string;
let chosenId: number;
let freshHtml: string;

function figure(id: string): string {
  const m = new RegExp(`<figure id="chart-${id}" data-chart="${id}">([\\s\\S]*?)</figure>`).exec(html);
  expect(m, `chart ${id} missing`).not.toBeNull();
  return m![1]!;
}
const labels = (svg: string) =>
  [...svg.matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]!.replace(/&#39;/g, "'").replace(/&amp;/g, '&'));

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 's4op-report-'));
  const store = RunStore.openWorkspace(dir);
  const registry = new StoreAgentRegistry(store);
  registry.upsert({
    id: 'a-1',
    name: 'pi-07',
    tags: ['pi4'],
    agent_version: '0.1.0',
    address: '127.0.0.1:1',
    online: true,
    connected_at: '2026-01-01T00:00:00Z',
    last_seen: '2026-01-01T00:00:00Z',
    runtimes: [{ name: 'onnxruntime-node', version: '1.30.0', available: true }],
    device: {
      hostname: 'pi',
      cpu_model: 'Cortex-A72 test CPU',
      cores: 4,
      cpu_max_mhz: 1800,
      cpu_current_mhz: 1500,
      memory_total_mb: 3906,
      os: 'Debian 12',
      arch: 'arm64',
      temperature_c: 45,
      board_model: 'Raspberry Pi 4 Model B Rev 1.4',
    },
  });
  const run = store.createRun({
    id: 'rec',
    strategy: 's4op',
    base_checkpoint: '/ck',
    dataset: { spec: { source: 'smnist14' } },
    config: {},
  });
  let prevChosen: number | null = null;
  for (const s of SPECS) {
    const c = store.startCandidate({ run_id: run.id, step: s.step, rate: s.rate, seed: s.seed, parent_id: prevChosen });
    const sha = `sha-${s.step}-${s.seed}`;
    const r = s.p50 / SPECS[0]!.p50;
    const paired =
      s.step === 0
        ? null
        : {
            reference_sha256: 'sha-0-0',
            attempt: 0,
            ratio: r,
            ratio_low: r * 0.99,
            ratio_high: r * 1.01,
            reference_p50_ms: 2.5 + s.step / 10,
          };
    const m = store.addMeasurement({
      paired,
      model_sha256: sha,
      agent: 'pi-07',
      settings: {},
      kind: 'measured',
      runtime: 'onnxruntime-node 1.30.0',
      p50_ms: s.p50,
      p90_ms: s.p90,
      rss_mb: 80 + s.step,
      statistics: {
        n: 100 + s.step,
        min: s.p50 * 0.9,
        median: s.p50,
        mean: s.p50 * 1.05,
        p90: s.p90,
        p99: s.p90 * 1.5,
        max: s.p90 * 2,
        median_ci: { low: s.p50 * 0.98, high: s.p50 * 1.02 },
      },
      thermal: {
        before: { temperature_c: s.temp[0], cpu_mhz: null, throttle: null },
        after: { temperature_c: s.temp[1], cpu_mhz: null, throttle: null },
        throttled: Boolean(s.throttled),
      },
      throttled: Boolean(s.throttled),
      raw: { measured_by: 'pi-07', ...(s.step === 1 && s.seed === 1 ? { measurement: WORK } : {}) },
    });
    store.finishCandidate(c.id, {
      active_operators: s.active,
      bypassed: s.active.map((a) => H - a.length),
      operators_active: s.active.flat().length,
      operators_total: H * LAYERS,
      params: 1000 - 10 * s.step,
      checkpoint: `/ck/${s.step}-${s.seed}`,
      weights_sha256: `w-${s.step}-${s.seed}`,
      model_sha256: sha,
      val_metric: s.val,
      val_loss: 1 - s.val,
      test_metric: s.test,
      test_loss: 1 - s.test,
      finetune_epochs: 1,
      finetune_steps: 10,
      finetune_seconds: 1,
      measurement_id: m.id,
      extra: paired
        ? {
            paired: {
              ratio: r,
              low: r * 0.99,
              high: r * 1.01,
              attempts: 1,
              busy: false,
              reference_sha256: 'sha-0-0',
              measurements: [m.id],
              not_faster_than_parent: s.seed === 1 && s.step === 2,
            },
          }
        : undefined,
    });
    if (s.chosen) {
      store.choose(run.id, s.step, c.id);
      prevChosen = c.id;
    }
  }
  chosenId = prevChosen!;
  // Another strategy from the same base checkpoint (unmeasured): its curve joins the metric chart.
  const other = store.createRun({
    id: 'other',
    strategy: 'importance',
    base_checkpoint: '/ck',
    dataset: {},
    config: { search: { criteria: [{ criterion: 'taylor', weight: 1 }] } },
  });
  for (const o of OTHER) {
    const c = store.startCandidate({ run_id: other.id, step: o.step, rate: o.rate, seed: 0 });
    store.finishCandidate(c.id, {
      active_operators: o.active,
      bypassed: o.active.map((a) => H - a.length),
      operators_active: o.active.flat().length,
      operators_total: H * LAYERS,
      params: 1,
      checkpoint: '/o',
      weights_sha256: 'o',
      model_sha256: null,
      val_metric: o.val,
      val_loss: 0,
      test_metric: o.val,
      test_loss: 0,
      finetune_epochs: 1,
      finetune_steps: 1,
      finetune_seconds: 1,
      measurement_id: null,
    });
    store.choose(other.id, o.step, c.id);
  }
  // A run from another checkpoint stays out.
  store.createRun({ id: 'unrelated', strategy: 'importance', base_checkpoint: '/elsewhere', dataset: {}, config: {} });
  // The run's profiling jobs: the base (our export: sections) and the answer (as if foreign: op types).
  const baseId = store.candidates(run.id)[0]!.id;
  const prof = (sha: string, p50: number, profile: Record<string, unknown>) =>
    store.addMeasurement({
      model_sha256: sha,
      agent: 'pi-07',
      settings: { profile: true },
      kind: 'measured',
      p50_ms: p50,
      p90_ms: p50,
      raw: { measured_by: 'pi-07', measurement: { models: [{ profile }] } },
    }).id;
  const profiles = {
    [String(baseId)]: prof('sha-0-0', 2, {
      by_section: { ssm: 3, mixing: 1, norm: 0.5, other: 0.5 },
      by_op_type: { MatMul: 4, Mul: 1 },
    }),
    [String(chosenId)]: prof('sha-2-0', 1, {
      by_section: null,
      by_op_type: { MatMul: 1, Mul: 1, Add: 1, Cast: 1, Gather: 1, Sum: 1, Relu: 2 },
    }),
  };
  store.updateRun(run.id, {
    status: 'finished',
    summary: { final_candidate: chosenId, profiles },
    stop_reason: 'last rate',
  });
  html = (await renderRunReport(store, run.id)).html;
  // A run that has only just started: nothing finished, nothing measured.
  const fresh = store.createRun({ id: 'fresh', strategy: 's4op', base_checkpoint: '/new', dataset: {}, config: {} });
  store.startCandidate({ run_id: fresh.id, step: 0, rate: 0, seed: 0 });
  freshHtml = (await renderRunReport(store, fresh.id)).html;
  store.close();
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('s4op report: HTML from a recorded run', () => {
  it('is one self-contained file with all eight charts as inline SVG', () => {
    for (const id of ['metric', 'ratio', 'latency', 'pareto', 'profile', 'allocation', 'distribution', 'thermals'])
      expect(figure(id)).toMatch(/<svg[\s\S]*<\/svg>/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|<img[^>]+src="http/);
  });

  it('metric chart: one point per candidate at (operators pruned %, validation %)', () => {
    const l = labels(figure('metric'));
    for (const s of SPECS)
      expect(l).toContain(
        `operators pruned (%): ${r2(pruned(s))}; validation metric (%): ${r2(s.val)}; strategy: s4op; candidate: ${label(s)}; val_pct: ${r2(s.val)}; test_pct: ${r2(s.test)}`,
      );
  });

  it("metric chart: the other strategy's run from the same base checkpoint as its own series", () => {
    const l = labels(figure('metric'));
    for (const o of OTHER) {
      const want = `operators pruned (%): ${r2(pruned(o))}; validation metric (%): ${r2(o.val)}; strategy: importance (taylor); candidate: other: ${o.step === 0 ? 'base' : `step ${o.step} · ${o.rate}% · seed 0`}; val_pct: ${r2(o.val)}`;
      expect(l.filter((x) => x.startsWith(want))).toHaveLength(1);
    }
    expect(l.some((x) => x.includes('unrelated'))).toBe(false);
    expect(l.find((x) => x.startsWith("Symbol legend titled 'strategy'"))).toMatch(
      /2 values: importance \(taylor\), s4op|2 values: s4op, importance \(taylor\)/,
    );
  });

  it("latency chart: measured p50 per candidate at its pruned fraction, the base's spread over its jobs", () => {
    const l = labels(figure('latency'));
    for (const s of SPECS)
      expect(
        l.some((x) =>
          x.startsWith(`operators pruned (%): ${r2(pruned(s))}; p50 latency (ms): ${s.p50}; candidate: ${label(s)}`),
        ),
      ).toBe(true);
    // The base was timed in its own job (2.5) and beside each of the four candidates (2.6, 2.6, 2.7, 2.7).
    expect(l).toContain(
      'operators pruned (%): 0; p50 latency (ms): 2.5; candidate: base; p50_ms: 2.5; p90_ms: 2.9; jobs: 5; p50_min_ms: 2.5; p50_max_ms: 2.7; kind: measured',
    );
  });

  it("ratio chart: each candidate's paired ratio to the base with its interval, flagged ones named", () => {
    const l = labels(figure('ratio'));
    for (const s of SPECS) {
      const want = `operators pruned (%): ${r2(pruned(s))}; latency / base (paired): ${ratio(s)}; candidate: ${label(s)}; ratio: ${ratio(s)}`;
      expect(l.filter((x) => x.startsWith(want))).toHaveLength(1);
    }
    expect(
      l.some((x) => x.includes('candidate: step 2 · 60% · seed 1') && x.endsWith('flags: not faster than its parent')),
    ).toBe(true);
    const table = /<table id="candidates">[\s\S]*?<\/table>/.exec(html)![0];
    expect(table).toContain('<span class="flag" title="not faster than its parent">not faster than its parent</span>');
    expect(table).toContain(
      `${(1.6 / 2.5).toFixed(3)} [${((1.6 / 2.5) * 0.99).toFixed(3)}, ${((1.6 / 2.5) * 1.01).toFixed(3)}]`,
    );
  });

  it('Pareto chart: the front computed independently, the chosen model marked', () => {
    const l = labels(figure('pareto'));
    const chosen = SPECS.filter((s) => s.chosen).at(-1)!;
    for (const s of SPECS) {
      const role = s === chosen ? 'chosen' : front.includes(s) ? 'Pareto front' : 'dominated';
      expect(l).toContain(
        `latency / base (paired): ${ratio(s)}; validation metric (%): ${r2(s.val)}; role: ${role}; candidate: ${label(s)}; val_pct: ${r2(s.val)}; ratio: ${ratio(s)}`,
      );
    }
    expect(front.map(label)).not.toContain('step 2 · 60% · seed 1');
  });

  it("profile chart: the base by export section, the answer by node type (five largest and the rest), scaled to each job's p50", () => {
    const l = labels(figure('profile'));
    // Base: kernel shares 3 : 1 : 0.5 : 0.5 of 5 applied to its profiling job's p50 of 2 ms.
    for (const [part, ms] of [
      ['ssm', 1.2],
      ['mixing', 0.4],
      ['norm', 0.2],
      ['other', 0.2],
    ] as const) {
      expect(
        l.some((x) => x.startsWith(`ms per run: `) && x.includes(`candidate: base; part: ${part}; ms: ${ms}`)),
      ).toBe(true);
    }
    // Answer: Relu 2/8 of 1 ms, then four of the 1/8 types, the remaining two together as "other".
    expect(l.some((x) => x.includes('candidate: step 2 · 60% · seed 0; part: Relu; ms: 0.25'))).toBe(true);
    expect(l.some((x) => x.includes('candidate: step 2 · 60% · seed 0; part: other; ms: 0.25'))).toBe(true);
    expect(l.filter((x) => x.includes('candidate: step 2 · 60% · seed 0; part:'))).toHaveLength(6);
    expect(l.some((x) => x.includes('candidate: step 1'))).toBe(false);
  });

  it('allocation heat map: active operators per layer of each candidate', () => {
    const l = labels(figure('allocation'));
    for (const s of SPECS)
      s.active.forEach((a, i) => expect(l).toContain(`layer: layer ${i}; candidate: ${label(s)}; active: ${a.length}`));
  });

  it('distributions: median, p90, p99 of each candidate', () => {
    const l = labels(figure('distribution'));
    const f = (v: number) => Number(v.toFixed(4));
    for (const s of SPECS)
      expect(l).toContain(
        `median: ${s.p50}; candidate: ${label(s)}; n: ${100 + s.step}; min: ${f(s.p50 * 0.9)}; p90: ${s.p90}; p99: ${f(s.p90 * 1.5)}; max: ${f(s.p90 * 2)}`,
      );
  });

  it("thermals chart and device table: the agent's temperatures and facts", () => {
    const l = labels(figure('thermals'));
    SPECS.forEach((s, i) => {
      expect(l).toContain(
        `reading (before/after each measurement): ${2 * i}; value: ${s.temp[0]}; candidate: ${label(s)}; phase: before; throttled: ${Boolean(s.throttled)}`,
      );
      expect(l).toContain(
        `reading (before/after each measurement): ${2 * i + 1}; value: ${s.temp[1]}; candidate: ${label(s)}; phase: after; throttled: ${Boolean(s.throttled)}`,
      );
    });
    const devices = /<table id="devices">[\s\S]*?<\/table>/.exec(html)![0];
    expect(devices).toContain('Raspberry Pi 4 Model B Rev 1.4');
    expect(devices).toContain('onnxruntime-node 1.30.0');
    expect(devices).toMatch(/<td>4<\/td><td>1800<\/td><td>3906<\/td>/);
  });

  it('candidates table: achieved GFLOP/s, % of the device peak, background load and time by section where the agent reported them', () => {
    const rows = [...html.matchAll(/<tr data-candidate="\d+"[^>]*>([\s\S]*?)<\/tr>/g)].map((m) =>
      [...m[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => c[1]!),
    );
    const head = [
      .../<table id="candidates"><tr>([\s\S]*?)<\/tr>/.exec(html)![1]!.matchAll(/<th[^>]*>([^<]*)<\/th>/g),
    ].map((m) => m[1]!);
    const col = (name: string) => head.indexOf(name);
    const withWork = rows.find((r) => r[0] === 'step 1 · 30% · seed 1')!;
    expect(withWork[col('GFLOP/s')]).toBe('12.3');
    expect(withWork[col('% of peak')]).toBe('24.7');
    expect(withWork[col('other CPU')]).toBe('41 % busy');
    expect(withWork[col('time by section')]).toBe('ssm 75 % · mixing 15 % · norm 5 % · other 5 %');
    expect(html).toMatch(/<td class="busy" title="measured while other processes kept the board busy">41 % busy<\/td>/);
    // measurements without them (older agents) show dashes
    const plain = rows.find((r) => r[0] === 'base')!;
    for (const c of ['GFLOP/s', '% of peak', 'other CPU']) expect(plain[col(c)], c).toBe('–');
    // The base's time by section comes from the run's profiling job of it.
    expect(plain[col('time by section')]).toBe('ssm 60 % · mixing 20 % · norm 10 % · other 10 %');
  });

  it('candidates table marks the chosen model', () => {
    expect(html).toMatch(
      new RegExp(`<tr data-candidate="${chosenId}" class="chosen"><td class="l">step 2 · 60% · seed 0</td>`),
    );
  });

  it('a run with nothing finished yet: each chart says so instead of drawing empty axes', () => {
    const text = (id: string) =>
      labels(new RegExp(`<figure id="chart-${id}"[^>]*>([\\s\\S]*?)</figure>`).exec(freshHtml)![1]!).filter((x) =>
        x.startsWith('text: '),
      );
    expect(text('metric')).toEqual(['text: No finished candidate yet.']);
    expect(text('latency')).toEqual(['text: No candidate measured yet.']);
    expect(text('pareto')).toEqual(['text: No finished, measured candidate yet.']);
    expect(text('allocation')).toEqual(['text: No finished candidate yet.']);
    expect(text('distribution')[0]).toMatch(/^text: No candidate timed on an agent yet/);
    expect(text('thermals')).toEqual(['text: No candidate measured on a device yet.']);
    expect(freshHtml).not.toMatch(/Infinity|NaN/);
    expect(freshHtml).toContain('No candidate was measured by an agent');
  });
});
