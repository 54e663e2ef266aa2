/**
 * Schema of export tuning (issue 14): per device class and model shape, the export variant (and its options)
 * that measured fastest on a board of that class, with the figures of every option tried. Rows are never
 * updated: a new tuning adds a row and the newest one for a class and shape is the one used.
 */
import type { Migration } from './migrations.js';

export const TUNING_MIGRATION: Migration = {
  version: 4,
  name: 'export_tunings',
  sql: `
    CREATE TABLE export_tunings (
      id               INTEGER PRIMARY KEY,
      device_class     TEXT NOT NULL,
      shape_key        TEXT NOT NULL,
      shape            TEXT NOT NULL,
      variant          TEXT NOT NULL,
      variant_options  TEXT NOT NULL,
      label            TEXT NOT NULL,
      reference        TEXT NOT NULL,
      options          TEXT NOT NULL,
      agent            TEXT NOT NULL,
      settings         TEXT NOT NULL,
      model            TEXT,
      created_at       TEXT NOT NULL
    );
    CREATE INDEX export_tunings_lookup ON export_tunings(device_class, shape_key, created_at);
  `,
};
