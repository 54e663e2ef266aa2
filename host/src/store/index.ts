export { RunStore, STORE_FILE, canonicalJson } from './run-store.js';
export type {
  RunRecord,
  RunStatus,
  CandidateStart,
  CandidateResult,
  CandidateRecord,
  MeasurementInput,
  MeasurementRecord,
  ArtifactInput,
} from './run-store.js';
export { MIGRATIONS, SCHEMA_VERSION, migrate, schemaVersion, type Migration } from './migrations.js';
