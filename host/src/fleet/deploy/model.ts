/**
 * What `s4op deploy --model` names: a candidate id of the workspace's run store (its exported ONNX artifact,
 * checked against the recorded hash, and the lab measurement it was chosen on) or an ONNX file (with the
 * workspace's latest measurement of the same hash, when there is one). Errors name the problem.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { sha256Hex, type Measurement } from '@s4op/shared';
import { decodeModel } from '../../export/onnx-builder.js';
import { RunStore, STORE_FILE, type MeasurementRecord } from '../../store/run-store.js';
import type { LabRecord, ModelSource } from './store.js';

export interface ResolvedModel {
  bytes: Buffer;
  name: string;
  sha256: string;
  source: ModelSource;
  lab: LabRecord | null;
}

export class ModelRefError extends Error {
  override name = 'ModelRefError';
}

/** The export's own record of how it was made (metadata_props), if the bytes are ONNX at all. */
export function onnxMetadata(bytes: Uint8Array, what: string): Record<string, string> {
  let model;
  try {
    model = decodeModel(bytes);
  } catch (err) {
    throw new ModelRefError(`${what} is not an ONNX model: ${(err as Error).message}`);
  }
  if (!model.graph || !model.graph.node?.length)
    throw new ModelRefError(`${what} is not an ONNX model (no graph with nodes)`);
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
}

export function labRecord(m: MeasurementRecord, meta: Record<string, string>): LabRecord {
  const raw = m.raw as { measured_by?: string; measurement?: Measurement | null } | null;
  const stats = m.statistics as { p99?: number; mean?: number } | null;
  const settings = m.settings ?? null;
  return {
    agent: raw?.measured_by ?? m.agent,
    runtime: raw?.measurement?.runtime.name ?? m.runtime?.split(' ')[0] ?? null,
    runtime_version: raw?.measurement?.runtime.version ?? m.runtime?.split(' ')[1] ?? null,
    threads: typeof settings?.threads === 'number' ? settings.threads : null,
    settings,
    export_mode: meta.mode ?? null,
    export_variant: meta.variant ?? null,
    p50_ms: m.p50_ms,
    p90_ms: m.p90_ms,
    p99_ms: stats?.p99 ?? null,
    mean_ms: stats?.mean ?? null,
    rss_mb: m.rss_mb ?? null,
    measured_at: m.created_at,
  };
}

function latestMeasurement(store: RunStore, sha256: string): MeasurementRecord | undefined {
  const row = store.db
    .prepare(
      "SELECT id FROM measurements WHERE model_sha256 = ? AND kind = 'measured' ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .get(sha256) as { id: number } | undefined;
  return row ? store.measurementById(row.id) : undefined;
}

export function resolveModel(spec: string, workspace: string): ResolvedModel {
  const storeFile = path.join(workspace, STORE_FILE);
  if (/^[0-9]+$/.test(spec) && !existsSync(spec)) {
    if (!existsSync(storeFile))
      throw new ModelRefError(
        `--model ${spec}: no run store at ${storeFile} to look the candidate up in (use --workspace, or give an .onnx file)`,
      );
    const store = RunStore.open(storeFile);
    try {
      const c = store.candidateById(Number(spec));
      if (!c)
        throw new ModelRefError(
          `--model ${spec}: no candidate ${spec} in ${storeFile} (s4op runs RUN lists a run's candidates)`,
        );
      if (c.status !== 'finished')
        throw new ModelRefError(`--model ${spec}: candidate ${spec} of run ${c.run_id} has not finished`);
      const art = store.artifacts(c.run_id).find((a) => a.candidate_id === c.id && a.kind === 'onnx');
      if (!art)
        throw new ModelRefError(
          `--model ${spec}: candidate ${spec} of run ${c.run_id} has no exported ONNX artifact (it was estimated, not measured)`,
        );
      let bytes: Buffer;
      try {
        bytes = readFileSync(art.path);
      } catch (err) {
        throw new ModelRefError(
          `--model ${spec}: the candidate's ONNX ${art.path} cannot be read: ${(err as Error).message}`,
        );
      }
      const sha256 = sha256Hex(bytes);
      if (art.sha256 && art.sha256 !== sha256)
        throw new ModelRefError(
          `--model ${spec}: ${art.path} hashes to ${sha256.slice(0, 12)}…, the run store recorded ${art.sha256.slice(0, 12)}…: the file changed since`,
        );
      const meta = onnxMetadata(bytes, art.path);
      const m = c.measurement_id != null ? store.measurementById(c.measurement_id) : undefined;
      return {
        bytes,
        name: `candidate-${c.id}.onnx`,
        sha256,
        source: { kind: 'candidate', candidate_id: c.id, run_id: c.run_id, path: art.path },
        lab: m && m.kind === 'measured' && m.model_sha256 === sha256 ? labRecord(m, meta) : null,
      };
    } finally {
      store.close();
    }
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(spec);
  } catch (err) {
    throw new ModelRefError(
      `--model ${spec}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (and not a candidate id)' : (err as Error).message}`,
    );
  }
  const meta = onnxMetadata(bytes, spec);
  const sha256 = sha256Hex(bytes);
  let lab: LabRecord | null = null;
  if (existsSync(storeFile)) {
    const store = RunStore.open(storeFile);
    try {
      const m = latestMeasurement(store, sha256);
      if (m) lab = labRecord(m, meta);
    } finally {
      store.close();
    }
  }
  return { bytes, name: path.basename(spec), sha256, source: { kind: 'file', path: path.resolve(spec) }, lab };
}
