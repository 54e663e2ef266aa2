/**
 * Benchmark (issue 16): fine-tunes through BullMQ on a real redis-server on loopback.
 * - Queue overhead: an empty job (`ping`) enqueued → started → result seen by the host's own wait
 *   (settleJob), p50 and p99 over --pings jobs on one worker (after a warm-up that starts its child process).
 * - The sMNIST-14 pruning benchmark configuration (scripts/bench/prune-smnist.ts, s4op strategy): S4D d_model 64,
 *   d_state 16, 4 layers, L 196, 4000/1000/1000 digits, rates 10,30,50,70,90, 5 seeds per rate (random choice,
 *   the S4oP depth rule), 2 fine-tune epochs per candidate with the paper's settings (S4OP_FINETUNE: lr 1e-4,
 *   patience 1, batch 32), not truncated. Run twice as `s4op prune` processes with the same seeds and options:
 *   locally with 2 data-parallel replicas (one fine-tune at a time on both cores), then through 2 workers of 1
 *   replica each (two fine-tunes at a time, one core each). Their ratio, and a time model fitted to the runs'
 *   own timings that predicts the run time by worker count (one worker per machine like this one).
 *
 *   npx tsx scripts/bench/queue.ts [--base DIR] [--workspace .s4op/bench-queue] [--out FILE] [--pings 200]
 *     [--reduced] [--d-model 64] [--d-state 16] [--layers 4] [--train 4000] [--val 1000] [--test 1000]
 *     [--rates 10,30,50,70,90] [--seeds 5] [--ft-epochs 2] [--max-steps N] [--base-minutes 15]
 *
 * The base checkpoint is trained once and reused: --base DIR takes an existing one (its shape is checked
 * against the flags; prune-smnist's `.s4op/bench-prune-h64/base-s4d` fits), else `s4op train` trains it
 * into <workspace>/base — about 15 minutes on 2 cores (--base-minutes) — and later invocations reuse it.
 * With the named configuration both runs take roughly 40–50 minutes each on this 2-core machine (25
 * fine-tunes of 2 epochs over 4000 digits), so the two runs took 36 minutes here (1,084 s and 1,045 s), plus the base.
 *
 * --reduced switches the defaults to a small configuration for a smoke run (d_model 16, 2 layers, 1000
 * digits, rates 30,60, 16 fine-tune steps); any flag given still wins. Only the named configuration writes
 * scripts/bench/results/queue.json: any other one writes <workspace>/queue.json unless --out says where.
 *
 * Latency comes from --estimate (a FLOP count) in both runs: the queue moves fine-tunes only, and every
 * candidate is exported and measured by the host exactly as without a queue, so measuring changes both runs'
 * fixed part alike. A local agent on this shared 2-core machine would compete with the fine-tunes for the
 * cores (in the queued run it measures while workers compute) and add its own noise to the comparison.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { RunStore } from '@s4op/host';
import { QUEUE_NAME, redisClient, settleJob, WIRE_VERSION, type JobData } from '@s4op/host/queue';
import { BENCH_DIR, median, writeResult } from './common.js';

const { values: a } = parseArgs({
  options: {
    workspace: { type: 'string', default: '.s4op/bench-queue' },
    base: { type: 'string' },
    out: { type: 'string' },
    pings: { type: 'string' },
    reduced: { type: 'boolean', default: false },
    'd-model': { type: 'string' },
    'd-state': { type: 'string' },
    layers: { type: 'string' },
    train: { type: 'string' },
    val: { type: 'string' },
    test: { type: 'string' },
    rates: { type: 'string' },
    seeds: { type: 'string' },
    'ft-epochs': { type: 'string' },
    'max-steps': { type: 'string' },
    'base-minutes': { type: 'string' },
  },
});

/** The named configuration (prune-smnist's s4op run), and the reduced one for a smoke run. */
const NAMED = {
  dModel: 64,
  dState: 16,
  layers: 4,
  train: 4000,
  val: 1000,
  test: 1000,
  rates: '10,30,50,70,90',
  seeds: 5,
  ftEpochs: 2,
  maxSteps: 0,
  baseMinutes: 15,
  pings: 200,
};
const REDUCED: typeof NAMED = {
  ...NAMED,
  dModel: 16,
  layers: 2,
  train: 1000,
  val: 200,
  test: 200,
  rates: '30,60',
  ftEpochs: 1,
  maxSteps: 16,
  baseMinutes: 0.5,
  pings: 50,
};
const d = a.reduced ? REDUCED : NAMED;
const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
const cfg = {
  dModel: num(a['d-model'], d.dModel),
  dState: num(a['d-state'], d.dState),
  layers: num(a.layers, d.layers),
  train: num(a.train, d.train),
  val: num(a.val, d.val),
  test: num(a.test, d.test),
  rates: a.rates ?? d.rates,
  seeds: num(a.seeds, d.seeds),
  ftEpochs: num(a['ft-epochs'], d.ftEpochs),
  maxSteps: num(a['max-steps'], d.maxSteps),
  baseMinutes: num(a['base-minutes'], d.baseMinutes),
  pings: num(a.pings, d.pings),
};
const isNamed = (Object.keys(NAMED) as (keyof typeof NAMED)[])
  .filter((k) => k !== 'pings' && k !== 'baseMinutes')
  .every((k) => cfg[k] === NAMED[k]);
const describe = `sMNIST-14 (L 196), S4D d_model ${cfg.dModel}, d_state ${cfg.dState}, ${cfg.layers} layers, ${cfg.train}/${cfg.val}/${cfg.test} digits, rates ${cfg.rates}, ${cfg.seeds} seeds per rate, s4op strategy (random, depth rule), ${cfg.ftEpochs} fine-tune epoch(s) per candidate (S4OP_FINETUNE, patience 1, batch 32)${cfg.maxSteps ? `, at most ${cfg.maxSteps} steps` : ''}, --estimate`;

const CLI = path.resolve(BENCH_DIR, '../../host/dist/cli/main.js');
const ws = path.resolve(a.workspace!);
mkdirSync(ws, { recursive: true });
const outFile = a.out ? path.resolve(a.out) : isNamed ? undefined : path.join(ws, 'queue.json');
const log = (l: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${l}`);
const load = () => {
  const [m1, m5] = os.loadavg();
  return { '1m': Number(m1!.toFixed(2)), '5m': Number(m5!.toFixed(2)) };
};
const load0 = load();
log(`${isNamed ? 'named configuration' : 'NOT the named configuration'}: ${describe}`);

const children: ReturnType<typeof spawn>[] = [];
const killAll = () => {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
};
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const url = `redis://127.0.0.1:${port}`;

function startProc(cmd: string, args: string[], ready: RegExp, logFile?: string): Promise<ReturnType<typeof spawn>> {
  const c = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  const sink = logFile ? createWriteStream(logFile) : undefined;
  return new Promise((resolve, reject) => {
    let out = '';
    const on = (b: Buffer) => {
      sink?.write(b);
      if (out.length < 1 << 16) out += b.toString();
      if (ready.test(out)) resolve(c);
    };
    c.stdout!.on('data', on);
    c.stderr!.on('data', on);
    c.once('exit', () => reject(new Error(`${cmd} exited:\n${out.slice(-2000)}`)));
  });
}
const startWorkers = (n: number, tag: string) =>
  Promise.all(
    Array.from({ length: n }, (_, i) =>
      startProc(
        process.execPath,
        [CLI, 'worker', '--redis', url, '--replicas', '1'],
        /ready on queue/,
        path.join(ws, `worker-${tag}-${i}.log`),
      ),
    ),
  );
const stop = (cs: ReturnType<typeof spawn>[]) => {
  for (const c of cs) process.kill(-c.pid!, 'SIGKILL');
};

/** Runs `s4op ARGS` to the end (its output to `logFile`); resolves with its wall time in seconds. */
function cli(args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Promise<number> {
  const t = performance.now();
  const c = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const sink = createWriteStream(logFile);
  let tail = '';
  const on = (b: Buffer) => {
    sink.write(b);
    tail = (tail + b.toString()).slice(-3000);
  };
  c.stdout.on('data', on);
  c.stderr.on('data', on);
  return new Promise((resolve, reject) =>
    c.once('exit', (code) => {
      sink.end();
      if (code === 0) resolve((performance.now() - t) / 1000);
      else reject(new Error(`s4op ${args[0]} failed (${code}; log ${logFile}):\n${tail}`));
    }),
  );
}
const pct = (xs: number[], q: number) =>
  [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
const r1 = (x: number) => Number(x.toFixed(1));
const r2 = (x: number) => Number(x.toFixed(2));
const r3 = (x: number) => Number(x.toFixed(3));

await startProc(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  /Ready to accept/,
);
log(`redis on ${url}`);

// ── overhead ──
let workers = await startWorkers(1, 'ping');
const connection = redisClient(url);
const queue = new Queue<JobData>(QUEUE_NAME, { connection });
const ping = async () => {
  const t = performance.now();
  const job = await queue.add('ping', { kind: 'ping', version: WIRE_VERSION });
  const end = await settleJob(queue, job.id!);
  if (end === 'gone' || end.failed) throw new Error(`ping failed: ${JSON.stringify(end)}`);
  return performance.now() - t;
};
for (let i = 0; i < 10; i++) await ping();
const overhead: number[] = [];
for (let i = 0; i < cfg.pings; i++) overhead.push(await ping());
log(`overhead: p50 ${pct(overhead, 0.5).toFixed(1)} ms, p99 ${pct(overhead, 0.99).toFixed(1)} ms`);
stop(workers);

// ── the base: given, or trained once by the CLI and reused ──
const base = path.resolve(a.base ?? path.join(ws, 'base'));
if (!existsSync(path.join(base, 'config.json'))) {
  if (a.base) throw new Error(`--base ${base} holds no checkpoint (config.json)`);
  // prune-smnist's base training (lr 1e-2, SSM 1e-3, cosine fitted to a time budget), through `s4op train`.
  const trainCfg = path.join(ws, 'base-train.json');
  writeFileSync(
    trainCfg,
    JSON.stringify({
      train: {
        epochs: a.reduced ? 1 : 40,
        batchSize: 32,
        lr: 1e-2,
        lrSsm: 1e-3,
        weightDecay: 0.01,
        patience: 0,
        timeBudgetS: cfg.baseMinutes * 60,
      },
    }),
  );
  log(`training the base into ${base} (about ${cfg.baseMinutes} min)`);
  await cli(
    [
      'train',
      '--model',
      's4d',
      '--dataset',
      'smnist14',
      '--d-model',
      String(cfg.dModel),
      '--d-state',
      String(cfg.dState),
      '--layers',
      String(cfg.layers),
      '--dropout',
      '0.1',
      '--train',
      String(cfg.train),
      '--val',
      String(cfg.val),
      '--test',
      String(cfg.test),
      '--config',
      trainCfg,
      ...(a.reduced ? ['--max-steps', '20'] : []),
      '--out',
      base,
    ],
    path.join(ws, 'base-train.log'),
  );
}
{
  const c = JSON.parse(readFileSync(path.join(base, 'config.json'), 'utf8')) as {
    model: { ssm: string; dModel: number; dState: number; nLayers: number };
    dataset?: { name?: string; spec?: { splits?: { train?: number; val?: number; test?: number } } };
  };
  const m = c.model;
  const s = c.dataset?.spec?.splits;
  const want = `s4d ${cfg.dModel}/${cfg.dState}/${cfg.layers}, ${cfg.train}/${cfg.val}/${cfg.test} digits`;
  const got = `${m.ssm} ${m.dModel}/${m.dState}/${m.nLayers}, ${s?.train}/${s?.val}/${s?.test} digits`;
  if (want !== got) throw new Error(`base ${base} is ${got}, the flags ask for ${want}: give another --base`);
  log(`base ${base}: ${got}`);
}

// ── the two runs: the same seeds and options; only where the fine-tunes run differs ──
const prune = (id: string, extra: string[]) => {
  const w = path.join(ws, id);
  rmSync(w, { recursive: true, force: true });
  return [
    'prune',
    '--checkpoint',
    base,
    '--workspace',
    w,
    '--run-id',
    id,
    '--strategy',
    's4op',
    '--criteria',
    'random',
    '--allocation',
    's4op',
    '--rates',
    cfg.rates,
    '--seeds',
    String(cfg.seeds),
    '--seed',
    '0',
    '--finetune-epochs',
    String(cfg.ftEpochs),
    '--patience',
    '1',
    '--batch-size',
    '32',
    ...(cfg.maxSteps ? ['--max-steps', String(cfg.maxSteps)] : []),
    '--estimate',
    ...extra,
  ];
};

interface Cand {
  step: number;
  seed: number;
  start: number;
  end: number;
  finetune_s: number;
}
/** The run's candidates (step > 0) from its store: when the host started and finished each. */
function candidates(id: string): Cand[] {
  const store = RunStore.openWorkspace(path.join(ws, id));
  try {
    const run = store.getRun(id);
    if (run?.status !== 'finished') throw new Error(`run ${id} is ${run?.status ?? 'missing'}, not finished`);
    return store
      .candidates(id)
      .filter((c) => c.step > 0 && c.status === 'finished')
      .map((c) => ({
        step: c.step,
        seed: c.seed,
        start: Date.parse(c.started_at),
        end: Date.parse(c.finished_at!),
        finetune_s: c.finetune_seconds ?? 0,
      }));
  } finally {
    store.close();
  }
}
/** Each rate's span in the host: its first candidate started → its last one finished (s). */
const spans = (cs: Cand[]) =>
  [...new Set(cs.map((c) => c.step))].map((k) => {
    const s = cs.filter((c) => c.step === k);
    return (Math.max(...s.map((c) => c.end)) - Math.min(...s.map((c) => c.start))) / 1000;
  });

interface QJob {
  step: number;
  run_s: number;
  wait_s: number;
  finished: number;
  /** Inside the job: the fine-tune itself (prune step, train, evaluate, save) and the rest (fetch, data, upload). */
  compute_s: number;
}
/** Per-job timings of run `id` from `s4op workers --json`, with each job's own breakdown from its result. */
async function jobs(id: string): Promise<QJob[]> {
  const out: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, 'workers', '--redis', url, '--json', '--limit', '1000']);
    c.stdout.on('data', (b: Buffer) => out.push(b.toString()));
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`s4op workers exited ${code}`))));
  });
  const status = JSON.parse(out.join('')) as {
    jobs: { id: string; state: string; wait_ms: number | null; run_ms: number | null }[];
  };
  const mine = status.jobs.filter((j) => j.id.startsWith(`${id}.`) && j.state === 'completed');
  return Promise.all(
    mine.map(async (j) => {
      const job = (await queue.getJob(j.id))!;
      const t = (job.returnvalue as { timings: { finetune_ms: number } }).timings;
      return {
        step: Number(/\.s(\d+)\./.exec(j.id)![1]),
        run_s: j.run_ms! / 1000,
        wait_s: (j.wait_ms ?? 0) / 1000,
        finished: job.finishedOn!,
        compute_s: t.finetune_ms / 1000,
      };
    }),
  );
}

log('local run: 2 data-parallel replicas in the host, one fine-tune at a time');
const loadLocal = load();
const local_s = await cli(prune('local', []), path.join(ws, 'local.log'), { S4OP_REPLICAS: '2' });
const localC = candidates('local');
log(`local: ${local_s.toFixed(1)} s`);

log('queued run: 2 workers of 1 replica each');
const loadTwo = load();
workers = await startWorkers(2, 'two');
const two_s = await cli(prune('two', ['--queue', url]), path.join(ws, 'two.log'));
const twoC = candidates('two');
const twoJ = await jobs('two');
stop(workers);
log(`2 workers: ${two_s.toFixed(1)} s (${(two_s / local_s).toFixed(3)} of local)`);
await queue.close();
connection.disconnect();

// ── the time model ──
// T(W) = fixed + Σ_rates (ceil(S / W) · job(W) + last(W) · h), S seeds per rate, W workers:
// - job(W): one fine-tune job's time with the cores its worker has; ceil(S / W) waves of jobs per rate.
// - h: the host's own work on a returned candidate (load, export, estimate, record). It overlaps the jobs still
//   running, except for the last wave's last(W) = S − W · (ceil(S / W) − 1) candidates, all back at once.
// - fixed: everything outside the rates' spans (start-up, the base evaluated, exported and estimated, the
//   answer), measured in each run from its store's timestamps.
// Locally there is no overlap: a rate is S · job_local, with h inside each candidate's time.
const R = spans(localC).length;
const S = cfg.seeds;
const waves = (w: number) => Math.ceil(S / w);
const last = (w: number) => S - w * (waves(w) - 1);
const fixedLocal = local_s - spans(localC).reduce((x, y) => x + y, 0);
const fixedTwo = two_s - spans(twoC).reduce((x, y) => x + y, 0);
const jobLocal = mean(localC.map((c) => (c.end - c.start) / 1000));
const jobTwo = mean(twoJ.map((j) => j.run_s));
// h: after a rate's last job finished on its worker, the host still had to notice it and finish that candidate.
const tails = [...new Set(twoC.map((c) => c.step))].map(
  (k) =>
    (Math.max(...twoC.filter((c) => c.step === k).map((c) => c.end)) -
      Math.max(...twoJ.filter((j) => j.step === k).map((j) => j.finished))) /
    1000,
);
const h = Math.max(0, median(tails));
// The queue's own share of a job (fetch the parent, rebuild the data, upload; child and BullMQ hand-off).
const queuePerJob = mean(twoJ.map((j) => j.run_s - j.compute_s));
// A worker with a machine like this one to itself: `s4op worker` with its default replicas (2 on 2 cores,
// as the local run) computes what a local candidate computes, minus the host's share, plus the queue's.
const jobAlone = jobLocal - h + queuePerJob;
const predictLocal = (fixed: number) => fixed + R * S * jobLocal;
const predictHere2 = (fixed: number) => fixed + R * (waves(2) * jobTwo + last(2) * h);
const predict = (w: number) => fixedTwo + R * (waves(w) * jobAlone + last(w) * h);
const err = (p: number, m: number) => r3(p / m - 1);
log(
  `model: fixed ${fixedLocal.toFixed(1)} / ${fixedTwo.toFixed(1)} s (local / queued), job ${jobLocal.toFixed(1)} s local, ${jobTwo.toFixed(1)} s on 1 core of 2, ${jobAlone.toFixed(1)} s alone; h ${h.toFixed(2)} s`,
);

const result = {
  config: {
    named: isNamed,
    name: describe,
    source: 'scripts/bench/prune-smnist.ts (s4op strategy: --random-ft-epochs 2, 5 seeds)',
    base_checkpoint: base,
    latency: '--estimate in both runs (the host measures every candidate the same with or without the queue)',
  },
  overhead_p50_ms: r2(pct(overhead, 0.5)),
  overhead_p99_ms: r2(pct(overhead, 0.99)),
  overhead_target_p50_ms: 50,
  pings: overhead.length,
  local_2_replicas_s: r2(local_s),
  two_workers_s: r2(two_s),
  two_workers_over_local: r3(two_s / local_s),
  two_workers_over_local_target: 1.1,
  runs: {
    local: {
      wall_s: r2(local_s),
      fixed_s: r2(fixedLocal),
      rate_spans_s: spans(localC).map(r1),
      candidate_mean_s: r2(jobLocal),
      finetune_train_mean_s: r2(mean(localC.map((c) => c.finetune_s))),
      candidates: localC.length,
      load_average_before: loadLocal,
    },
    two_workers: {
      wall_s: r2(two_s),
      fixed_s: r2(fixedTwo),
      rate_spans_s: spans(twoC).map(r1),
      job_mean_s: r2(jobTwo),
      job_compute_mean_s: r2(mean(twoJ.map((j) => j.compute_s))),
      job_wait_mean_s: r2(mean(twoJ.map((j) => j.wait_s))),
      host_tail_per_rate_s: tails.map(r2),
      jobs: twoJ.length,
      load_average_before: loadTwo,
    },
  },
  model: {
    formula:
      'T(W) = fixed + Σ_rates (ceil(S/W) · job(W) + last(W) · h); last(W) = S − W·(ceil(S/W) − 1); local: T = fixed + rates · S · job_local',
    terms: {
      fixed_s: 'outside the rates’ spans (start-up, base, its export and estimate, the answer): measured per run',
      job_s:
        'one fine-tune job: local from the store (candidate started → finished), queued from s4op workers --json (run_ms)',
      h_s: "the host's finish of a returned candidate (export, estimate, record): a rate's last job finished → its candidate recorded",
      queue_per_job_s: "a job's run time minus its fine-tune: parent fetch, dataset rebuild, upload, hand-off",
      job_alone_s:
        'a worker with a 2-core machine to itself (default replicas: 2, as local): job_local − h + queue_per_job',
    },
    fixed_local_s: r2(fixedLocal),
    fixed_queued_s: r2(fixedTwo),
    job_local_s: r2(jobLocal),
    job_two_on_this_machine_s: r2(jobTwo),
    h_s: r2(h),
    queue_per_job_s: r2(queuePerJob),
    job_alone_s: r2(jobAlone),
    extrapolation:
      'predicted_s: W workers on W machines like this one (2 cores each, one worker with its default replicas), the host on its own; fixed from the queued run, job time = job_alone. The 2-worker run here is not that: its 2 workers share this machine (1 core each) and the host, so it is checked with its own job time.',
    seeds_limit: `with ${S} seeds per rate nothing beyond ${S} workers helps: a rate has only ${S} jobs, and the rates cannot overlap (a rate's best candidate is the next rate's parent), so ${S}, 8 and 32 workers predict the same`,
  },
  check: {
    note: 'error = predicted / measured − 1. Each run with its own fixed part tests the rates’ term (locally a rate is S jobs back to back, so that error is only the gaps between them); with the other run’s fixed part it also tests whether the fixed part carries over between the local and the queued host',
    local: {
      measured_s: r2(local_s),
      predicted_s: r1(predictLocal(fixedLocal)),
      error: err(predictLocal(fixedLocal), local_s),
      predicted_with_queued_fixed_s: r1(predictLocal(fixedTwo)),
      error_with_queued_fixed: err(predictLocal(fixedTwo), local_s),
    },
    two_workers: {
      measured_s: r2(two_s),
      predicted_s: r1(predictHere2(fixedTwo)),
      error: err(predictHere2(fixedTwo), two_s),
      predicted_with_local_fixed_s: r1(predictHere2(fixedLocal)),
      error_with_local_fixed: err(predictHere2(fixedLocal), two_s),
    },
  },
  predicted_s: Object.fromEntries([1, 2, 5, 8, 32].map((w) => [String(w), r1(predict(w))])),
  load_average: { start: load0, end: load() },
  cores: os.cpus().length,
};
const file = writeResult('queue', result, outFile);
log(`two workers / local ${result.two_workers_over_local}; predicted ${JSON.stringify(result.predicted_s)}`);
log(`checks: local ${result.check.local.error}, 2 workers ${result.check.two_workers.error}`);
log(`wrote ${file}`);
killAll();
process.exit(0);
