/**
 * Versioned schema of the run store. Each migration runs once, in its own transaction, in order; the
 * applied versions are recorded in `schema_migrations` (and mirrored in PRAGMA user_version). Never edit
 * a released migration: add the next one.
 */
import type { Database } from 'better-sqlite3';
import { FLEET_MIGRATION } from './migration-fleet.js';
import { PAIRED_MIGRATION } from './migration-paired.js';
import { TUNING_MIGRATION } from './migration-tuning.js';
import { AXES_MIGRATION } from './migration-axes.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'runs, candidates, measurements, artifacts',
    sql: `
      CREATE TABLE runs (
        id              TEXT PRIMARY KEY,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'stopped')),
        strategy        TEXT NOT NULL,
        base_checkpoint TEXT NOT NULL,
        dataset         TEXT NOT NULL,
        config          TEXT NOT NULL,
        summary         TEXT,
        stop_reason     TEXT
      );
      CREATE TABLE candidates (
        id                INTEGER PRIMARY KEY,
        run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step              INTEGER NOT NULL,
        rate              REAL NOT NULL,
        seed              INTEGER NOT NULL,
        status            TEXT NOT NULL CHECK (status IN ('running', 'finished')),
        parent_id         INTEGER REFERENCES candidates(id),
        active_operators  TEXT,
        bypassed          TEXT,
        operators_active  INTEGER,
        operators_total   INTEGER,
        params            INTEGER,
        checkpoint        TEXT,
        weights_sha256    TEXT,
        model_sha256      TEXT,
        val_metric        REAL,
        val_loss          REAL,
        test_metric       REAL,
        test_loss         REAL,
        finetune_epochs   INTEGER,
        finetune_steps    INTEGER,
        finetune_seconds  REAL,
        measurement_id    INTEGER REFERENCES measurements(id),
        chosen            INTEGER NOT NULL DEFAULT 0,
        extra             TEXT,
        started_at        TEXT NOT NULL,
        finished_at       TEXT,
        UNIQUE (run_id, step, seed)
      );
      CREATE INDEX candidates_run ON candidates(run_id, step);
      CREATE TABLE measurements (
        id            INTEGER PRIMARY KEY,
        model_sha256  TEXT NOT NULL,
        agent         TEXT NOT NULL,
        settings_key  TEXT NOT NULL,
        settings      TEXT NOT NULL,
        kind          TEXT NOT NULL CHECK (kind IN ('measured', 'estimate')),
        runtime       TEXT,
        p50_ms        REAL NOT NULL,
        p90_ms        REAL NOT NULL,
        rss_mb        REAL,
        statistics    TEXT,
        memory        TEXT,
        thermal       TEXT,
        throttled     INTEGER,
        raw           TEXT,
        created_at    TEXT NOT NULL,
        UNIQUE (model_sha256, agent, settings_key)
      );
      CREATE TABLE artifacts (
        id            INTEGER PRIMARY KEY,
        run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        candidate_id  INTEGER REFERENCES candidates(id) ON DELETE CASCADE,
        kind          TEXT NOT NULL,
        path          TEXT NOT NULL,
        sha256        TEXT,
        bytes         INTEGER,
        created_at    TEXT NOT NULL,
        UNIQUE (run_id, kind, path)
      );
    `,
  },
  FLEET_MIGRATION,
  PAIRED_MIGRATION,
  TUNING_MIGRATION,
  AXES_MIGRATION,
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The version a database is at (0 for an empty file). */
export function schemaVersion(db: Database): number {
  const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/** Brings `db` to the latest schema; refuses a file written by a newer s4op. Returns the versions applied. */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS, file = 'the run store'): number[] {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const current = schemaVersion(db);
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  if (current > latest) {
    throw new Error(
      `${file} has schema version ${current}, newer than this s4op knows (${latest}): upgrade s4op to open it`,
    );
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current) continue;
    // IMMEDIATE: take the write lock first, so two processes opening a fresh file cannot both migrate.
    db.transaction(() => {
      if (schemaVersion(db) >= m.version) return;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
      db.pragma(`user_version = ${m.version}`);
      applied.push(m.version);
    }).immediate();
  }
  return applied;
}
