/** The run store on real SQLite files in a temp dir: migrations, records, dedupe, and a writer killed mid-transaction. */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION, migrate, schemaVersion } from '../../host/src/store/migrations.js';
import { RunStore, canonicalJson, type CandidateResult } from '../../host/src/store/run-store.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const ws = path.join(dir, `ws-${n++}`);
  mkdirSync(ws);
  return path.join(ws, 'runs.sqlite');
};

const result = (over: Partial<CandidateResult> = {}): CandidateResult => ({
  active_operators: [[0, 2], [1]],
  bypassed: [1, 2],
  operators_active: 3,
  operators_total: 6,
  params: 1234,
  checkpoint: '/tmp/ckpt',
  weights_sha256: 'a'.repeat(64),
  model_sha256: 'b'.repeat(64),
  val_metric: 0.8,
  val_loss: 0.5,
  test_metric: 0.75,
  test_loss: 0.6,
  finetune_epochs: 2,
  finetune_steps: 20,
  finetune_seconds: 1.5,
  measurement_id: null,
  ...over,
});

describe('migrations', () => {
  it('a new file gets the latest schema once; reopening applies nothing', () => {
    const file = fresh();
    const s = RunStore.open(file);
    expect(schemaVersion(s.db)).toBe(SCHEMA_VERSION);
    expect(s.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const tables = (
      s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]
    ).map((t) => t.name);
    expect(tables).toEqual(
      expect.arrayContaining(['runs', 'candidates', 'measurements', 'artifacts', 'schema_migrations']),
    );
    s.close();
    const db = new Database(file);
    expect(migrate(db)).toEqual([]);
    db.close();
  });

  it('an older file is brought up to date step by step; a failing step rolls back whole', () => {
    const file = fresh();
    const db = new Database(file);
    expect(migrate(db, MIGRATIONS.slice(0, 1))).toEqual([1]);
    const next = [
      ...MIGRATIONS.slice(0, 1),
      { version: 2, name: 'notes', sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)' },
    ];
    const broken = [
      ...next,
      { version: 3, name: 'broken', sql: 'CREATE TABLE half (id INTEGER); CREATE TABLE oops (' },
    ];
    expect(() => migrate(db, broken)).toThrow();
    // Version 2 went in (its own transaction); 3 left no table behind.
    expect(schemaVersion(db)).toBe(2);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeUndefined();
    expect(migrate(db, next)).toEqual([]);
    db.close();
  });

  it('refuses a file from a newer s4op, and a file that is not SQLite', () => {
    const file = fresh();
    const db = new Database(file);
    migrate(db, [...MIGRATIONS, { version: 99, name: 'future', sql: 'SELECT 1' }]);
    db.close();
    expect(() => RunStore.open(file)).toThrow(/schema version 99, newer than this s4op knows/);
    const junk = path.join(dir, 'junk.sqlite');
    writeFileSync(junk, 'this is not a database, just text long enough to have a header of sixteen bytes and more');
    expect(() => RunStore.open(junk)).toThrow(/not an s4op run store/);
  });
});

describe('records', () => {
  it('runs: create, list, update; ids are checked and unique', () => {
    const s = RunStore.open(fresh());
    const a = s.createRun({
      id: 'r1',
      strategy: 's4op',
      base_checkpoint: 'ck',
      dataset: { name: 'adding' },
      config: { rates: [10] },
    });
    expect(a).toMatchObject({
      id: 'r1',
      status: 'running',
      dataset: { name: 'adding' },
      config: { rates: [10] },
      summary: null,
    });
    const b = s.createRun({ strategy: 'importance', base_checkpoint: 'ck', dataset: {}, config: {} });
    expect(b.id).toMatch(/^run-[0-9a-f]{8}$/);
    expect(() => s.createRun({ id: 'r1', strategy: 's4op', base_checkpoint: 'ck', dataset: {}, config: {} })).toThrow(
      /already exists/,
    );
    expect(() =>
      s.createRun({ id: 'bad id!', strategy: 's4op', base_checkpoint: 'ck', dataset: {}, config: {} }),
    ).toThrow(/run id/);
    s.updateRun('r1', { status: 'finished', summary: { best: 1 }, stop_reason: 'last rate' });
    expect(s.getRun('r1')).toMatchObject({ status: 'finished', summary: { best: 1 }, stop_reason: 'last rate' });
    expect(
      s
        .listRuns()
        .map((r) => r.id)
        .sort(),
    ).toEqual([b.id, 'r1'].sort());
    expect(() => s.updateRun('nope', { status: 'failed' })).toThrow(/no run nope/);
    s.close();
  });

  it('candidates: start, restart after a kill, finish once, choose one per step', () => {
    const s = RunStore.open(fresh());
    s.createRun({ id: 'r', strategy: 's4op', base_checkpoint: 'ck', dataset: {}, config: {} });
    const c0 = s.startCandidate({ run_id: 'r', step: 1, rate: 10, seed: 0 });
    expect(c0).toMatchObject({ status: 'running', chosen: false, parent_id: null });
    // A second start of the same (step, seed) reuses the row (the process that ran it died).
    const again = s.startCandidate({ run_id: 'r', step: 1, rate: 10, seed: 0 });
    expect(again.id).toBe(c0.id);
    const done = s.finishCandidate(c0.id, result(), [{ kind: 'checkpoint', path: '/tmp/ckpt' }]);
    expect(done).toMatchObject({
      status: 'finished',
      active_operators: [[0, 2], [1]],
      val_metric: 0.8,
      finetune_epochs: 2,
    });
    expect(() => s.finishCandidate(c0.id, result())).toThrow(/already finished/);
    expect(() => s.startCandidate({ run_id: 'r', step: 1, rate: 10, seed: 0 })).toThrow(/already finished/);
    const c1 = s.startCandidate({ run_id: 'r', step: 1, rate: 10, seed: 1, parent_id: c0.id });
    expect(() => s.choose('r', 1, c1.id)).toThrow(/not a finished candidate/);
    s.finishCandidate(c1.id, result({ val_metric: 0.9 }));
    s.choose('r', 1, c0.id);
    s.choose('r', 1, c1.id);
    expect(s.candidates('r').map((c) => [c.seed, c.chosen])).toEqual([
      [0, false],
      [1, true],
    ]);
    expect(s.artifacts('r')).toMatchObject([{ kind: 'checkpoint', path: '/tmp/ckpt', candidate_id: c0.id }]);
    s.close();
  });

  it('measurements: one per (model hash, agent, settings), settings compared canonically', () => {
    const s = RunStore.open(fresh());
    const m = {
      model_sha256: 'c'.repeat(64),
      agent: 'local',
      kind: 'measured' as const,
      p50_ms: 1.5,
      p90_ms: 2,
      rss_mb: 80,
    };
    const a = s.addMeasurement({ ...m, settings: { threads: 1, runtime: 'auto', dims: { batch: 1, seq: 2 } } });
    const b = s.addMeasurement({
      ...m,
      p50_ms: 9,
      settings: { dims: { seq: 2, batch: 1 }, runtime: 'auto', threads: 1 },
    });
    expect(b.id).toBe(a.id);
    expect(b.p50_ms).toBe(1.5);
    expect(
      s.findMeasurement(m.model_sha256, 'local', { runtime: 'auto', dims: { batch: 1, seq: 2 }, threads: 1 })?.id,
    ).toBe(a.id);
    expect(
      s.addMeasurement({ ...m, agent: 'pi-07', settings: { threads: 1, runtime: 'auto', dims: { batch: 1, seq: 2 } } })
        .id,
    ).not.toBe(a.id);
    expect(s.addMeasurement({ ...m, settings: { threads: 2 } }).id).not.toBe(a.id);
    expect(s.measurementCount()).toBe(3);
    expect(() => s.addMeasurement({ ...m, p50_ms: NaN, settings: {} })).toThrow(/p50_ms/);
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
    s.close();
  });

  it("paired measurements: keyed by (model, reference, agent, settings, attempt); the reference's p50 pooled over its jobs", () => {
    const s = RunStore.open(fresh());
    const base = 'b'.repeat(64);
    const cand = 'c'.repeat(64);
    const settings = { threads: 1 };
    s.addMeasurement({ model_sha256: base, agent: 'local', settings, kind: 'measured', p50_ms: 0.5, p90_ms: 0.6 });
    const pair = (attempt: number, ratio: number, ref: number) =>
      s.addMeasurement({
        model_sha256: cand,
        agent: 'local',
        settings,
        kind: 'measured',
        p50_ms: ratio * ref,
        p90_ms: ratio * ref,
        busy: attempt === 1,
        paired: {
          reference_sha256: base,
          attempt,
          ratio,
          ratio_low: ratio - 0.01,
          ratio_high: ratio + 0.01,
          reference_p50_ms: ref,
        },
      });
    const a0 = pair(0, 0.7, 0.6);
    const a1 = pair(1, 0.72, 0.7);
    expect(pair(0, 0.9, 0.9).id).toBe(a0.id); // the same attempt is the cached answer
    expect(a1.id).not.toBe(a0.id);
    expect(s.findPaired(cand, base, 'local', { threads: 1 }, 0)).toMatchObject({
      paired: { ratio: 0.7, attempt: 0, reference_p50_ms: 0.6 },
      busy: false,
    });
    expect(s.findPaired(cand, base, 'local', { threads: 2 }, 0)).toBeUndefined();
    expect(s.findPaired(cand, base, 'pi', settings, 0)).toBeUndefined();
    expect(s.pairedAttempts(cand, base, 'local', settings).map((m) => [m.paired!.attempt, m.busy])).toEqual([
      [0, false],
      [1, true],
    ]);
    // A paired row is not the model's single measurement, and the base's p50 counts once per job.
    expect(s.findMeasurement(cand, 'local', settings)).toBeUndefined();
    expect(s.referenceP50s(base, 'local', settings)).toEqual([0.5, 0.6, 0.7]);
    expect(s.referenceP50s(base, 'local', { threads: 2 })).toEqual([]);
    const bad = {
      reference_sha256: base,
      attempt: 2,
      ratio: 0.7,
      ratio_low: 0.8,
      ratio_high: 0.9,
      reference_p50_ms: 1,
    };
    expect(() =>
      s.addMeasurement({
        model_sha256: cand,
        agent: 'local',
        settings,
        kind: 'measured',
        p50_ms: 1,
        p90_ms: 1,
        paired: bad,
      }),
    ).toThrow(/outside its interval/);
    expect(() =>
      s.addMeasurement({
        model_sha256: cand,
        agent: 'local',
        settings,
        kind: 'measured',
        p50_ms: 1,
        p90_ms: 1,
        paired: { ...bad, ratio: NaN },
      }),
    ).toThrow(/ratio must be a positive number/);
    s.close();
  });
});

describe('a writer killed mid-transaction', () => {
  it('leaves the committed rows and none of the uncommitted ones', async () => {
    const file = fresh();
    const s = RunStore.open(file);
    s.createRun({ id: 'kept', strategy: 's4op', base_checkpoint: 'ck', dataset: {}, config: {} });
    s.close();
    // A real process opens the same file, writes inside an open transaction, says so, and is SIGKILLed.
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const code = `
      const D = require(${JSON.stringify(sqlite)});
      const db = new D(${JSON.stringify(file)});
      db.pragma('journal_mode = WAL');
      db.exec('BEGIN IMMEDIATE');
      db.prepare("INSERT INTO runs (id, created_at, updated_at, status, strategy, base_checkpoint, dataset, config) VALUES ('lost', 't', 't', 'running', 's', 'c', '{}', '{}')").run();
      process.stdout.write('inside\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => d.toString().includes('inside') && resolve()),
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    const again = RunStore.open(file);
    expect(again.listRuns().map((r) => r.id)).toEqual(['kept']);
    expect(again.db.pragma('integrity_check', { simple: true })).toBe('ok');
    again.close();
  });
});
