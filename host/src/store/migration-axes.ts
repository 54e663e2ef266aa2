/**
 * Schema of the search over several axes (issue 15): each candidate records the axis it moved along
 * (operators, states or int8), its export precision and the percent of its active channels' states pruned.
 * Rows written before this migration are operator candidates at float32 with every state kept.
 */
import type { Migration } from './migrations.js';

export const AXES_MIGRATION: Migration = {
  version: 5,
  name: 'candidate_axes',
  sql: `
    ALTER TABLE candidates ADD COLUMN axis TEXT NOT NULL DEFAULT 'operators';
    ALTER TABLE candidates ADD COLUMN precision TEXT NOT NULL DEFAULT 'float32';
    ALTER TABLE candidates ADD COLUMN state_rate REAL NOT NULL DEFAULT 0;
  `,
};
