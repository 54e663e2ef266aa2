/**
 * The run store: one SQLite file per workspace holding pruning runs, their candidates (active operators,
 * checkpoint, metrics), measurements (agent, runtime, settings, statistics, thermals; at most one per
 * model hash, agent and settings, and for a paired job one per model, reference, agent, settings and attempt)
 * and artifacts. Every write is a transaction, so a process killed at any
 * point leaves either the whole record or none of it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';

export type RunStatus = 'running' | 'finished' | 'failed' | 'stopped';

export interface RunRecord {
  id: string;
  created_at: string;
  updated_at: string;
  status: RunStatus;
  strategy: string;
  base_checkpoint: string;
  dataset: unknown;
  config: unknown;
  summary: unknown;
  stop_reason: string | null;
}

/** What a search step moves along: bypassed operators, pruned states, or int8 precision (issue 15). */
export type Axis = 'operators' | 'states' | 'int8';
export const AXES: readonly Axis[] = ['operators', 'states', 'int8'];
export type Precision = 'float32' | 'int8';

export interface CandidateStart {
  run_id: string;
  step: number;
  /** Percent of operators bypassed. */
  rate: number;
  seed: number;
  parent_id?: number | null;
  /** Default operators. */
  axis?: Axis;
}

/** What a finished candidate records (all at once, in one transaction). */
export interface CandidateResult {
  active_operators: number[][];
  bypassed: number[];
  operators_active: number;
  operators_total: number;
  params: number;
  checkpoint: string;
  weights_sha256: string;
  model_sha256: string | null;
  val_metric: number;
  val_loss: number;
  test_metric: number;
  test_loss: number;
  finetune_epochs: number;
  finetune_steps: number;
  finetune_seconds: number;
  measurement_id: number | null;
  /** Export precision (default float32). */
  precision?: Precision;
  /** Percent of the active channels' states pruned (default 0). */
  state_rate?: number;
  extra?: Record<string, unknown>;
}

export interface CandidateRecord extends CandidateStart, Partial<CandidateResult> {
  id: number;
  status: 'running' | 'finished';
  parent_id: number | null;
  chosen: boolean;
  started_at: string;
  finished_at: string | null;
}

export interface MeasurementInput {
  model_sha256: string;
  /** Agent name, or the estimator's name for an estimate. */
  agent: string;
  settings: Record<string, unknown>;
  kind: 'measured' | 'estimate';
  runtime?: string | null;
  p50_ms: number;
  p90_ms: number;
  rss_mb?: number | null;
  statistics?: unknown;
  memory?: unknown;
  thermal?: unknown;
  throttled?: boolean | null;
  /** The agent saw other processes keep the board busy during the job. */
  busy?: boolean | null;
  /** A paired job: this model (B) timed interleaved with a reference (A) in one job. */
  paired?: PairedFigures | null;
  raw?: unknown;
}

/** What a paired job adds to the measurement of its candidate. */
export interface PairedFigures {
  reference_sha256: string;
  /** 0 for the first job of a pair, 1 for a consistency re-measure, … */
  attempt: number;
  /** Median over interleaved pairs of latency(model) / latency(reference), and its confidence interval. */
  ratio: number;
  ratio_low: number;
  ratio_high: number;
  /** The reference's own p50 in the same job. */
  reference_p50_ms: number;
}

export interface MeasurementRecord extends MeasurementInput {
  id: number;
  settings_key: string;
  created_at: string;
}

export interface ArtifactInput {
  run_id: string;
  candidate_id?: number | null;
  kind: string;
  path: string;
  sha256?: string | null;
  bytes?: number | null;
}

/** Canonical JSON (object keys sorted at every level): equal settings give equal keys. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

const now = () => new Date().toISOString();
const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
const parse = (v: unknown) => (typeof v === 'string' ? (JSON.parse(v) as unknown) : null);

type Row = Record<string, unknown>;

export const STORE_FILE = 'runs.sqlite';

export class RunStore {
  readonly db: Database.Database;

  private constructor(readonly file: string) {
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    try {
      this.db = new Database(file);
    } catch (err) {
      throw new Error(`cannot open the run store ${file}: ${(err as Error).message}`);
    }
    try {
      // WAL: readers (s4op runs) never block the search's writes; a killed writer loses nothing committed.
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      migrate(this.db, undefined, file);
    } catch (err) {
      this.db.close();
      const msg = (err as Error).message;
      throw new Error(
        /file is not a database|malformed/i.test(msg) ? `${file} is not an s4op run store (${msg})` : msg,
      );
    }
  }

  static open(file: string): RunStore {
    return new RunStore(file);
  }

  /** The store of a workspace directory: <dir>/runs.sqlite. */
  static openWorkspace(dir: string): RunStore {
    return new RunStore(path.join(dir, STORE_FILE));
  }

  close(): void {
    this.db.close();
  }

  // ── runs ──

  createRun(r: {
    id?: string;
    strategy: string;
    base_checkpoint: string;
    dataset: unknown;
    config: unknown;
  }): RunRecord {
    const id = r.id ?? `run-${randomBytes(4).toString('hex')}`;
    if (!/^[\w.-]{1,64}$/.test(id)) throw new Error(`run id "${id}" must be 1–64 letters, digits, '.', '_' or '-'`);
    if (this.getRun(id)) throw new Error(`run ${id} already exists in ${this.file}`);
    const t = now();
    this.db
      .prepare(
        'INSERT INTO runs (id, created_at, updated_at, status, strategy, base_checkpoint, dataset, config) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(id, t, t, 'running', r.strategy, r.base_checkpoint, json(r.dataset), json(r.config));
    return this.getRun(id)!;
  }

  getRun(id: string): RunRecord | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return row ? runFrom(row) : undefined;
  }

  /** Newest first. */
  listRuns(): RunRecord[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY created_at DESC, id').all() as Row[]).map(runFrom);
  }

  updateRun(id: string, u: { status?: RunStatus; summary?: unknown; stop_reason?: string | null }): void {
    const run = this.getRun(id);
    if (!run) throw new Error(`no run ${id} in ${this.file}`);
    this.db
      .prepare('UPDATE runs SET status = ?, summary = ?, stop_reason = ?, updated_at = ? WHERE id = ?')
      .run(
        u.status ?? run.status,
        u.summary === undefined ? json(run.summary ?? undefined) : json(u.summary),
        u.stop_reason === undefined ? run.stop_reason : u.stop_reason,
        now(),
        id,
      );
  }

  // ── candidates ──

  /** Records that a candidate started (or restarts one left running by a killed process). */
  startCandidate(c: CandidateStart): CandidateRecord {
    const existing = this.getCandidate(c.run_id, c.step, c.seed);
    if (existing?.status === 'finished')
      throw new Error(`candidate step ${c.step} seed ${c.seed} of run ${c.run_id} is already finished`);
    if (existing) {
      this.db
        .prepare('UPDATE candidates SET started_at = ?, parent_id = ?, rate = ?, axis = ? WHERE id = ?')
        .run(now(), c.parent_id ?? null, c.rate, c.axis ?? 'operators', existing.id);
    } else {
      this.db
        .prepare(
          'INSERT INTO candidates (run_id, step, rate, seed, status, parent_id, axis, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(c.run_id, c.step, c.rate, c.seed, 'running', c.parent_id ?? null, c.axis ?? 'operators', now());
    }
    return this.getCandidate(c.run_id, c.step, c.seed)!;
  }

  finishCandidate(
    id: number,
    r: CandidateResult,
    artifacts: Omit<ArtifactInput, 'run_id' | 'candidate_id'>[] = [],
  ): CandidateRecord {
    const done = this.db.transaction(() => {
      const c = this.candidateById(id);
      if (!c) throw new Error(`no candidate ${id}`);
      if (c.status === 'finished') throw new Error(`candidate ${id} is already finished`);
      this.db
        .prepare(
          `UPDATE candidates SET status = 'finished', active_operators = ?, bypassed = ?, operators_active = ?, operators_total = ?,
             params = ?, checkpoint = ?, weights_sha256 = ?, model_sha256 = ?, val_metric = ?, val_loss = ?, test_metric = ?,
             test_loss = ?, finetune_epochs = ?, finetune_steps = ?, finetune_seconds = ?, measurement_id = ?, precision = ?,
             state_rate = ?, extra = ?, finished_at = ? WHERE id = ?`,
        )
        .run(
          json(r.active_operators),
          json(r.bypassed),
          r.operators_active,
          r.operators_total,
          r.params,
          r.checkpoint,
          r.weights_sha256,
          r.model_sha256,
          r.val_metric,
          r.val_loss,
          r.test_metric,
          r.test_loss,
          r.finetune_epochs,
          r.finetune_steps,
          r.finetune_seconds,
          r.measurement_id,
          r.precision ?? 'float32',
          r.state_rate ?? 0,
          json(r.extra),
          now(),
          id,
        );
      for (const a of artifacts) this.addArtifact({ ...a, run_id: c.run_id, candidate_id: id });
    });
    done.immediate();
    return this.candidateById(id)!;
  }

  /**
   * A candidate that could not be fine-tuned (a queued job failed for good): it stays unfinished, with the
   * reason in `extra.failed`, so the run goes on without it and a resume tries it again.
   */
  failCandidate(id: number, reason: string): void {
    const c = this.candidateById(id);
    if (!c) throw new Error(`no candidate ${id}`);
    if (c.status === 'finished') throw new Error(`candidate ${id} is already finished`);
    this.db.prepare('UPDATE candidates SET extra = ? WHERE id = ?').run(json({ failed: reason }), id);
  }

  getCandidate(run_id: string, step: number, seed: number): CandidateRecord | undefined {
    const row = this.db
      .prepare('SELECT * FROM candidates WHERE run_id = ? AND step = ? AND seed = ?')
      .get(run_id, step, seed) as Row | undefined;
    return row ? candidateFrom(row) : undefined;
  }

  candidateById(id: number): CandidateRecord | undefined {
    const row = this.db.prepare('SELECT * FROM candidates WHERE id = ?').get(id) as Row | undefined;
    return row ? candidateFrom(row) : undefined;
  }

  /** A run's candidates in step, seed order. */
  candidates(run_id: string): CandidateRecord[] {
    return (this.db.prepare('SELECT * FROM candidates WHERE run_id = ? ORDER BY step, seed').all(run_id) as Row[]).map(
      candidateFrom,
    );
  }

  /** Marks `id` as the step's chosen candidate (and no other of that step). */
  choose(run_id: string, step: number, id: number): void {
    this.db
      .transaction(() => {
        this.db.prepare('UPDATE candidates SET chosen = 0 WHERE run_id = ? AND step = ?').run(run_id, step);
        const r = this.db
          .prepare("UPDATE candidates SET chosen = 1 WHERE id = ? AND run_id = ? AND step = ? AND status = 'finished'")
          .run(id, run_id, step);
        if (r.changes !== 1)
          throw new Error(`candidate ${id} is not a finished candidate of run ${run_id} step ${step}`);
      })
      .immediate();
  }

  // ── measurements ──

  /** A single (unpaired) measurement of the model under these settings. */
  findMeasurement(
    model_sha256: string,
    agent: string,
    settings: Record<string, unknown>,
  ): MeasurementRecord | undefined {
    const row = this.db
      .prepare(
        'SELECT * FROM measurements WHERE model_sha256 = ? AND agent = ? AND settings_key = ? AND reference_sha256 IS NULL',
      )
      .get(model_sha256, agent, canonicalJson(settings)) as Row | undefined;
    return row ? measurementFrom(row) : undefined;
  }

  /** Attempt `attempt` of the paired job (model against reference) under these settings. */
  findPaired(
    model_sha256: string,
    reference_sha256: string,
    agent: string,
    settings: Record<string, unknown>,
    attempt: number,
  ): MeasurementRecord | undefined {
    const row = this.db
      .prepare('SELECT * FROM measurements WHERE model_sha256 = ? AND agent = ? AND settings_key = ?')
      .get(model_sha256, agent, pairedKey(settings, reference_sha256, attempt)) as Row | undefined;
    return row ? measurementFrom(row) : undefined;
  }

  /** Every attempt of the paired job (model against reference), in attempt order. */
  pairedAttempts(
    model_sha256: string,
    reference_sha256: string,
    agent: string,
    settings: Record<string, unknown>,
  ): MeasurementRecord[] {
    const key = canonicalJson(settings);
    return (
      this.db
        .prepare(
          'SELECT * FROM measurements WHERE model_sha256 = ? AND reference_sha256 = ? AND agent = ? AND settings = ? ORDER BY attempt',
        )
        .all(model_sha256, reference_sha256, agent, key) as Row[]
    ).map(measurementFrom);
  }

  /**
   * The reference's own p50 in every job it took part in on this agent under these settings: its single
   * measurements and its side of every paired job, oldest first (what a pooled reference p50 is made of).
   */
  referenceP50s(reference_sha256: string, agent: string, settings: Record<string, unknown>): number[] {
    const key = canonicalJson(settings);
    const rows = this.db
      .prepare(
        `SELECT created_at, id, p50_ms AS v FROM measurements WHERE model_sha256 = ? AND agent = ? AND settings = ? AND reference_sha256 IS NULL
         UNION ALL
         SELECT created_at, id, reference_p50_ms AS v FROM measurements WHERE reference_sha256 = ? AND agent = ? AND settings = ?
         ORDER BY created_at, id`,
      )
      .all(reference_sha256, agent, key, reference_sha256, agent, key) as { v: number }[];
    return rows.map((r) => r.v);
  }

  measurementById(id: number): MeasurementRecord | undefined {
    const row = this.db.prepare('SELECT * FROM measurements WHERE id = ?').get(id) as Row | undefined;
    return row ? measurementFrom(row) : undefined;
  }

  /** Stores a measurement; one that exists for the same (model hash, agent, settings) is kept and returned. */
  addMeasurement(m: MeasurementInput): MeasurementRecord {
    for (const [k, v] of [
      ['p50_ms', m.p50_ms],
      ['p90_ms', m.p90_ms],
    ] as const) {
      if (!Number.isFinite(v) || v < 0)
        throw new Error(`measurement ${k} must be a non-negative number, got ${String(v)}`);
    }
    const p = m.paired ?? null;
    if (p) {
      for (const [k, v] of [
        ['ratio', p.ratio],
        ['ratio_low', p.ratio_low],
        ['ratio_high', p.ratio_high],
        ['reference_p50_ms', p.reference_p50_ms],
      ] as const) {
        if (!Number.isFinite(v) || v <= 0)
          throw new Error(`paired measurement ${k} must be a positive number, got ${String(v)}`);
      }
      if (!(p.ratio_low <= p.ratio && p.ratio <= p.ratio_high))
        throw new Error(
          `paired measurement: ratio ${p.ratio} lies outside its interval [${p.ratio_low}, ${p.ratio_high}]`,
        );
      if (!Number.isInteger(p.attempt) || p.attempt < 0)
        throw new Error(`paired measurement attempt must be a non-negative integer, got ${p.attempt}`);
    }
    const settings = canonicalJson(m.settings);
    const key = p ? pairedKey(m.settings, p.reference_sha256, p.attempt) : settings;
    this.db
      .prepare(
        `INSERT OR IGNORE INTO measurements (model_sha256, agent, settings_key, settings, kind, runtime, p50_ms, p90_ms, rss_mb,
           statistics, memory, thermal, throttled, raw, created_at, reference_sha256, attempt, ratio, ratio_low, ratio_high,
           reference_p50_ms, busy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        m.model_sha256,
        m.agent,
        key,
        settings,
        m.kind,
        m.runtime ?? null,
        m.p50_ms,
        m.p90_ms,
        m.rss_mb ?? null,
        json(m.statistics),
        json(m.memory),
        json(m.thermal),
        m.throttled == null ? null : Number(m.throttled),
        json(m.raw),
        now(),
        p?.reference_sha256 ?? null,
        p?.attempt ?? 0,
        p?.ratio ?? null,
        p?.ratio_low ?? null,
        p?.ratio_high ?? null,
        p?.reference_p50_ms ?? null,
        m.busy == null ? null : Number(m.busy),
      );
    return p
      ? this.findPaired(m.model_sha256, p.reference_sha256, m.agent, m.settings, p.attempt)!
      : this.findMeasurement(m.model_sha256, m.agent, m.settings)!;
  }

  measurementCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM measurements').get() as { n: number }).n;
  }

  // ── artifacts ──

  addArtifact(a: ArtifactInput): void {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO artifacts (run_id, candidate_id, kind, path, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(a.run_id, a.candidate_id ?? null, a.kind, a.path, a.sha256 ?? null, a.bytes ?? null, now());
  }

  artifacts(run_id: string): (ArtifactInput & { id: number; created_at: string })[] {
    return this.db.prepare('SELECT * FROM artifacts WHERE run_id = ? ORDER BY id').all(run_id) as (ArtifactInput & {
      id: number;
      created_at: string;
    })[];
  }
}

function runFrom(r: Row): RunRecord {
  return {
    id: r.id as string,
    created_at: r.created_at as string,
    updated_at: r.updated_at as string,
    status: r.status as RunStatus,
    strategy: r.strategy as string,
    base_checkpoint: r.base_checkpoint as string,
    dataset: parse(r.dataset),
    config: parse(r.config),
    summary: parse(r.summary),
    stop_reason: (r.stop_reason as string | null) ?? null,
  };
}

function candidateFrom(r: Row): CandidateRecord {
  const num = (k: string) => (r[k] == null ? undefined : (r[k] as number));
  return {
    id: r.id as number,
    run_id: r.run_id as string,
    step: r.step as number,
    rate: r.rate as number,
    seed: r.seed as number,
    status: r.status as 'running' | 'finished',
    parent_id: (r.parent_id as number | null) ?? null,
    axis: (r.axis as Axis | undefined) ?? 'operators',
    precision: (r.precision as Precision | undefined) ?? 'float32',
    state_rate: (r.state_rate as number | undefined) ?? 0,
    active_operators: (parse(r.active_operators) as number[][] | null) ?? undefined,
    bypassed: (parse(r.bypassed) as number[] | null) ?? undefined,
    operators_active: num('operators_active'),
    operators_total: num('operators_total'),
    params: num('params'),
    checkpoint: (r.checkpoint as string | null) ?? undefined,
    weights_sha256: (r.weights_sha256 as string | null) ?? undefined,
    model_sha256: (r.model_sha256 as string | null) ?? null,
    val_metric: num('val_metric'),
    val_loss: num('val_loss'),
    test_metric: num('test_metric'),
    test_loss: num('test_loss'),
    finetune_epochs: num('finetune_epochs'),
    finetune_steps: num('finetune_steps'),
    finetune_seconds: num('finetune_seconds'),
    measurement_id: (r.measurement_id as number | null) ?? null,
    extra: (parse(r.extra) as Record<string, unknown> | null) ?? undefined,
    chosen: r.chosen === 1,
    started_at: r.started_at as string,
    finished_at: (r.finished_at as string | null) ?? null,
  };
}

function measurementFrom(r: Row): MeasurementRecord {
  return {
    id: r.id as number,
    model_sha256: r.model_sha256 as string,
    agent: r.agent as string,
    settings_key: r.settings_key as string,
    settings: parse(r.settings) as Record<string, unknown>,
    kind: r.kind as 'measured' | 'estimate',
    runtime: (r.runtime as string | null) ?? null,
    p50_ms: r.p50_ms as number,
    p90_ms: r.p90_ms as number,
    rss_mb: (r.rss_mb as number | null) ?? null,
    statistics: parse(r.statistics),
    memory: parse(r.memory),
    thermal: parse(r.thermal),
    throttled: r.throttled == null ? null : r.throttled === 1,
    busy: r.busy == null ? null : r.busy === 1,
    paired:
      r.reference_sha256 == null
        ? null
        : {
            reference_sha256: r.reference_sha256 as string,
            attempt: r.attempt as number,
            ratio: r.ratio as number,
            ratio_low: r.ratio_low as number,
            ratio_high: r.ratio_high as number,
            reference_p50_ms: r.reference_p50_ms as number,
          },
    raw: parse(r.raw),
    created_at: r.created_at as string,
  };
}

/** Cache key of a paired job: the settings, the reference it was paired with, and the attempt. */
function pairedKey(settings: Record<string, unknown>, reference_sha256: string, attempt: number): string {
  return canonicalJson({ settings, paired_with: reference_sha256, attempt });
}
