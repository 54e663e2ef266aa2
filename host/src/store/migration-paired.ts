/**
 * Paired measurements (issue 13): a candidate is timed interleaved with a reference (the run's base) in one
 * job, and decisions rest on the ratio of the two. A measurement row then also holds the reference's hash,
 * the paired ratio with its confidence interval, the reference's own p50 from the same job, the attempt
 * (a consistency re-measure is attempt 1) and whether the agent saw the board busy with other work.
 * Single measurements keep reference_sha256 NULL and these columns empty.
 */
import type { Migration } from './migrations.js';

export const PAIRED_MIGRATION: Migration = {
  version: 3,
  name: 'paired measurements: reference, ratio with its interval, attempt, background load',
  sql: `
    ALTER TABLE measurements ADD COLUMN reference_sha256 TEXT;
    ALTER TABLE measurements ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE measurements ADD COLUMN ratio REAL;
    ALTER TABLE measurements ADD COLUMN ratio_low REAL;
    ALTER TABLE measurements ADD COLUMN ratio_high REAL;
    ALTER TABLE measurements ADD COLUMN reference_p50_ms REAL;
    ALTER TABLE measurements ADD COLUMN busy INTEGER;
    CREATE INDEX measurements_pair ON measurements(model_sha256, reference_sha256, agent);
  `,
};
