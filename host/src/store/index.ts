export { RunStore, STORE_FILE, canonicalJson, AXES } from './run-store.js';
export type {
  RunRecord,
  RunStatus,
  CandidateStart,
  CandidateResult,
  CandidateRecord,
  MeasurementInput,
  MeasurementRecord,
  ArtifactInput,
  Axis,
  Precision,
} from './run-store.js';
export { MIGRATIONS, SCHEMA_VERSION, migrate, schemaVersion, type Migration } from './migrations.js';
