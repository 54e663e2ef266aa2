/**
 * Schema of the fleet (issue 8): the registry of agents with their deployed models, and deployments with
 * one row per agent of each (its wave, state, field measurement and the reason for any failure).
 */
import type { Migration } from './migrations.js';

export const FLEET_MIGRATION: Migration = {
  version: 2,
  name: 'agents, deployments, deployment_agents',
  sql: `
    CREATE TABLE agents (
      id                TEXT PRIMARY KEY,
      name              TEXT NOT NULL,
      tags              TEXT NOT NULL,
      agent_version     TEXT NOT NULL,
      runtimes          TEXT NOT NULL,
      device            TEXT NOT NULL,
      address           TEXT NOT NULL,
      online            INTEGER NOT NULL,
      connected_at      TEXT NOT NULL,
      last_seen         TEXT NOT NULL,
      active_sha256     TEXT,
      active_deployment TEXT,
      previous_sha256   TEXT,
      desired_sha256    TEXT,
      desired_deployment TEXT
    );
    CREATE INDEX agents_name ON agents(name);
    CREATE TABLE deployments (
      id            TEXT PRIMARY KEY,
      created_at    TEXT NOT NULL,
      updated_at    TEXT NOT NULL,
      status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'rolled_back')),
      model_sha256  TEXT NOT NULL,
      model_name    TEXT,
      model_bytes   INTEGER NOT NULL,
      source        TEXT NOT NULL,
      selector      TEXT NOT NULL,
      canary        TEXT NOT NULL,
      waves         INTEGER NOT NULL,
      gate          TEXT NOT NULL,
      settings      TEXT NOT NULL,
      lab           TEXT,
      plan          TEXT NOT NULL,
      current_stage INTEGER NOT NULL DEFAULT 0,
      reason        TEXT
    );
    CREATE TABLE deployment_agents (
      deployment_id   TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
      agent_id        TEXT NOT NULL,
      agent_name      TEXT NOT NULL,
      stage           INTEGER NOT NULL,
      state           TEXT NOT NULL,
      previous_sha256 TEXT,
      field           TEXT,
      gate_result     TEXT,
      reason          TEXT,
      updated_at      TEXT NOT NULL,
      PRIMARY KEY (deployment_id, agent_id)
    );
    CREATE INDEX deployment_agents_agent ON deployment_agents(agent_id, state);
  `,
};
