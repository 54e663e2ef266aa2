/**
 * `s4op prune` and `s4op runs` as real processes, measuring on a real local agent: a run killed with
 * SIGKILL mid-run and resumed ends with exactly the candidates of an uninterrupted run, nothing finished
 * is redone, nothing is measured twice, and the local agent does not outlive the killed host.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_CLI, killAll, runCli, startCli, trainTinyListops } from '../helpers/processes.js';

let dir: string;
let ck: string;
// Short timing loops: the test checks bookkeeping, not figures.
const SETTINGS = JSON.stringify({ min_duration_ms: 50, warmup_ms: 10, warmup_runs: 2, min_samples: 8 });
const pruneArgs = (ws: string, id: string) => [
  'prune',
  '--checkpoint',
  ck,
  '--workspace',
  ws,
  '--run-id',
  id,
  '--rates',
  '30,60',
  '--seeds',
  '2',
  '--finetune-epochs',
  '2',
  '--max-steps',
  '6',
  '--settings',
  SETTINGS,
  '--backend',
  'cpu',
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 's4op-prune-'));
  ck = path.join(dir, 'base');
  const r = await trainTinyListops(ck, { train: 192, val: 64, test: 64, dModel: 8, epochs: 2 });
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  killAll();
  await rm(dir, { recursive: true, force: true });
});

interface Row {
  step: number;
  seed: number;
  status: string;
  active_operators: string;
  val_metric: number;
  test_metric: number;
  model_sha256: string;
  chosen: number;
  finished_at: string;
  measurement_id: number;
}

function readStore(ws: string): {
  candidates: Row[];
  measurements: { id: number; model_sha256: string; created_at: string }[];
} {
  const db = new Database(path.join(ws, 'runs.sqlite'), { readonly: true });
  try {
    return {
      candidates: db.prepare('SELECT * FROM candidates ORDER BY step, seed').all() as Row[],
      measurements: db.prepare('SELECT id, model_sha256, created_at FROM measurements ORDER BY id').all() as {
        id: number;
        model_sha256: string;
        created_at: string;
      }[],
    };
  } finally {
    db.close();
  }
}

const essence = (rows: Row[]) =>
  rows.map((r) => ({
    step: r.step,
    seed: r.seed,
    status: r.status,
    active: r.active_operators,
    val: r.val_metric,
    test: r.test_metric,
    hash: r.model_sha256,
    chosen: r.chosen,
  }));

/** Processes whose command line mentions `needle` (read from /proc; nothing is signalled). */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) pids.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('s4op prune', () => {
  let reference: Row[];

  it('runs to the end on a local agent, prints the table, writes CSV, and `s4op runs` lists it', async () => {
    const ws = path.join(dir, 'ref');
    const csv = path.join(dir, 'ref.csv');
    const r = await runCli(HOST_CLI, [...pruneArgs(ws, 'ref'), '--csv', csv], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/cost: measured on local, conv mode/);
    expect(r.stdout).toMatch(/run ref \(s4op\) finished: last rate/);
    expect(r.stdout).toMatch(
      /step\s+axis\s+rate%\s+seed\s+pruned%\s+states%\s+prec\s+val%\s+test%\s+ratio to base \[95% CI\]\s+p50 ms\s+p90 ms\s+mem MB\s+params\s+epochs\s+chosen/,
    );
    expect(r.stdout).not.toMatch(/estimated/);
    const lines = (await readFile(csv, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1 + 5);
    expect(lines.slice(1).every((l) => l.includes(',measured,local,'))).toBe(true);
    reference = readStore(ws).candidates;
    // Every candidate was measured paired with the base in one job: a ratio with its interval, the base's p50 of that job.
    const db0 = new Database(path.join(ws, 'runs.sqlite'), { readonly: true });
    const pairs = db0
      .prepare(
        'SELECT model_sha256, reference_sha256, ratio, ratio_low, ratio_high, reference_p50_ms, attempt FROM measurements WHERE reference_sha256 IS NOT NULL',
      )
      .all() as {
      model_sha256: string;
      reference_sha256: string;
      ratio: number;
      ratio_low: number;
      ratio_high: number;
      reference_p50_ms: number;
      attempt: number;
    }[];
    db0.close();
    for (const c of reference.slice(1)) {
      const mine = pairs.filter((p) => p.model_sha256 === c.model_sha256);
      expect(mine.length).toBeGreaterThanOrEqual(1);
      for (const p of mine) {
        expect(p.reference_sha256).toBe(reference[0]!.model_sha256);
        expect(p.ratio_low).toBeLessThanOrEqual(p.ratio);
        expect(p.ratio).toBeLessThanOrEqual(p.ratio_high);
        expect(p.reference_p50_ms).toBeGreaterThan(0);
      }
    }
    const shown = JSON.parse((await runCli(HOST_CLI, ['runs', 'ref', '--workspace', ws, '--json'])).stdout)
      .candidates as {
      step: number;
      ratio: number;
      ratio_low: number;
      ratio_high: number;
      paired_jobs: number;
      pareto: boolean;
      final: boolean;
    }[];
    expect(shown[0]).toMatchObject({ ratio: 1, ratio_low: 1, ratio_high: 1, paired_jobs: 0 });
    for (const row of shown.slice(1)) {
      expect(row.paired_jobs).toBeGreaterThanOrEqual(1);
      expect(row.ratio_low).toBeLessThanOrEqual(row.ratio);
      expect(row.ratio).toBeLessThanOrEqual(row.ratio_high);
    }
    // The answer is on the front of what the run measured.
    expect(shown.filter((x) => x.final)).toHaveLength(1);
    expect(shown.find((x) => x.final)!.pareto).toBe(true);
    expect(reference.map((c) => [c.step, c.seed, c.status])).toEqual([
      [0, 0, 'finished'],
      [1, 0, 'finished'],
      [1, 1, 'finished'],
      [2, 0, 'finished'],
      [2, 1, 'finished'],
    ]);
    // 30 % of 16 = round(4.8) = 5, all on layer 1 (weight 2^1; layer 0 waits); 60 % = round(9.6) = 10 → 7 + 3.
    expect(JSON.parse(reference[1]!.active_operators).map((l: number[]) => 8 - l.length)).toEqual([0, 5]);
    expect(JSON.parse(reference[3]!.active_operators).map((l: number[]) => 8 - l.length)).toEqual([3, 7]);
    // Artifacts: each candidate's checkpoint and the exported ONNX that was measured (its hash is the model hash), the CSV.
    const db = new Database(path.join(ws, 'runs.sqlite'), { readonly: true });
    const artifacts = db
      .prepare(
        'SELECT a.kind, a.path, a.sha256, c.model_sha256 FROM artifacts a LEFT JOIN candidates c ON c.id = a.candidate_id ORDER BY a.id',
      )
      .all() as { kind: string; path: string; sha256: string | null; model_sha256: string | null }[];
    db.close();
    expect(artifacts.filter((x) => x.kind === 'checkpoint')).toHaveLength(4);
    const onnx = artifacts.filter((x) => x.kind === 'onnx');
    expect(onnx).toHaveLength(5);
    for (const x of onnx) {
      expect(x.sha256).toBe(x.model_sha256);
      expect(createHash('sha256').update(readFileSync(x.path)).digest('hex')).toBe(x.sha256);
    }
    expect(artifacts.filter((x) => x.kind === 'csv').map((x) => x.path)).toEqual([csv]);
    const list = await runCli(HOST_CLI, ['runs', '--workspace', ws, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject([
      { id: 'ref', status: 'finished', strategy: 's4op', candidates: 5, stop_reason: 'last rate' },
    ]);
    const one = await runCli(HOST_CLI, ['runs', 'ref', '--workspace', ws, '--json']);
    expect(JSON.parse(one.stdout).candidates).toHaveLength(5);
  });

  it('killed with SIGKILL mid-run and resumed: the same candidates, nothing redone or measured twice', async () => {
    const ws = mkdtempSync(path.join(dir, 'killed-')); // fresh on a retry: the run id must not exist yet
    const p = startCli(HOST_CLI, pruneArgs(ws, 'k'));
    await p.waitFor(/^step 2 \(60%\) seed 0: .* fine-tuning/, 90_000);
    p.child.kill('SIGKILL');
    expect(await p.exited).toBe('SIGKILL');
    const atKill = readStore(ws);
    const done = atKill.candidates.filter((c) => c.status === 'finished');
    expect(done.length).toBeGreaterThanOrEqual(3); // base and both 30 % seeds
    // The local agent ran under a watchdog tied to the host: it goes away with it.
    const cache = path.join(ws, 'agent-cache');
    for (let t = 0; processesWith(cache).length && t < 100; t++) await new Promise((r) => setTimeout(r, 100));
    expect(processesWith(cache)).toEqual([]);

    const r = await runCli(HOST_CLI, ['prune', '--resume', 'k', '--workspace', ws, '--json', '--backend', 'cpu'], {
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming run k/);
    const after = readStore(ws);
    expect(essence(after.candidates)).toEqual(essence(reference));
    // Finished before the kill: untouched (same finish time, same measurement).
    for (const c of done) {
      const now = after.candidates.find((x) => x.step === c.step && x.seed === c.seed)!;
      expect([now.finished_at, now.measurement_id]).toEqual([c.finished_at, c.measurement_id]);
    }
    // Measurements of these models only (a candidate may have a consistency re-measure); the resumed host measured
    // only what had none.
    const hashes = new Set(after.candidates.map((c) => c.model_sha256));
    expect([...new Set(after.measurements.map((m) => m.model_sha256))].sort()).toEqual([...hashes].sort());
    expect(after.measurements.slice(0, atKill.measurements.length)).toEqual(atKill.measurements);
    // Jobs only ("job ID: measuring …"): the agent also logs "measuring it again" for its device peak when the
    // cached one was taken on a busy machine, which is not a candidate measured twice.
    const measuredNow = (r.stderr.match(/\[agent\].*: job \S+: measuring /g) ?? []).length;
    expect(measuredNow, r.stderr).toBe(after.measurements.length - atKill.measurements.length);
    expect(r.stderr.match(/finished earlier/g)?.length).toBe(done.length - 1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ run: 'k', status: 'finished', stop_reason: 'last rate' });
    expect(out.final).toMatchObject({ final: true, pareto: true });

    // Resuming a finished run changes nothing.
    const again = await runCli(HOST_CLI, ['prune', '--resume', 'k', '--workspace', ws, '--backend', 'cpu']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/already finished/);
    expect(readStore(ws)).toEqual(after);
  });

  it("fine-tunes importance candidates at lr 4e-3 and s4op ones at the paper's 1e-4 unless --lr says otherwise", async () => {
    const ws = path.join(dir, 'lr');
    /** The learning rates the fine-tune of the run's step-1 candidate recorded in its checkpoint. */
    const lrOf = async (id: string, extra: string[]) => {
      const r = await runCli(
        HOST_CLI,
        [
          'prune',
          '--checkpoint',
          ck,
          '--workspace',
          ws,
          '--run-id',
          id,
          '--rates',
          '30',
          '--seeds',
          '1',
          '--finetune-epochs',
          '1',
          '--max-steps',
          '2',
          '--estimate',
          '--backend',
          'cpu',
          ...extra,
        ],
        { timeoutMs: 120_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const db = new Database(path.join(ws, 'runs.sqlite'), { readonly: true });
      const row = db.prepare('SELECT checkpoint FROM candidates WHERE run_id = ? AND step = 1').get(id) as {
        checkpoint: string;
      };
      db.close();
      const { options } = JSON.parse(await readFile(path.join(row.checkpoint, 'config.json'), 'utf8')).training
        .finetune;
      return [options.lr, options.lrSsm];
    };
    expect(await lrOf('imp', ['--strategy', 'importance', '--criteria', 'taylor'])).toEqual([4e-3, 4e-3]);
    expect(await lrOf('rnd', [])).toEqual([1e-4, 1e-4]);
    expect(await lrOf('imp-lr', ['--strategy', 'importance', '--criteria', 'taylor', '--lr', '0.02'])).toEqual([
      0.02, 0.02,
    ]);
  });

  it('names bad input', async () => {
    const ws = path.join(dir, 'bad');
    const cases: [string[], RegExp][] = [
      [['prune', '--workspace', ws, '--resume', 'nope'], /no run nope in .*runs\.sqlite \(it has no runs\)/],
      [['prune', '--workspace', ws], /give --checkpoint DIR \(or --resume RUN\)/],
      [['prune', '--workspace', ws, '--checkpoint', path.join(dir, 'missing')], /checkpoint .*missing does not exist/],
      [['prune', '--workspace', ws, '--checkpoint', ck, '--rates', '50,30'], /increase strictly/],
      [
        ['prune', '--workspace', ws, '--checkpoint', ck, '--strategy', 'importance', '--criteria', 'hinf+magic'],
        /unknown criterion "magic"/,
      ],
      [
        ['prune', '--workspace', ws, '--checkpoint', ck, '--estimate', '--budget-ms', '3'],
        /--budget-ms needs measured latency/,
      ],
      [
        ['prune', '--workspace', ws, '--checkpoint', ck, '--axes', 'operators,weights'],
        /--axes: .*unknown axis "weights"/,
      ],
      [['prune', '--workspace', ws, '--checkpoint', ck, '--state-rates', '20'], /add states to --axes/],
      [
        ['prune', '--workspace', ws, '--checkpoint', ck, '--axes', 'states', '--state-criterion', 'x'],
        /--state-criterion: state pruning: unknown criterion "x"; known: last, aire, random/,
      ],
      [['runs', 'nope', '--workspace', ws], /no run nope/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(HOST_CLI, args[0] === 'prune' ? [...args, '--backend', 'cpu'] : args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
