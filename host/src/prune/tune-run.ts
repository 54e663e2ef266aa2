/**
 * `s4op prune --tune`: before the search, the device class being measured gets its export tuned once (on
 * the base model, paired on the same agent the search measures on), unless the run store already holds a
 * tuning of that class for the model's shape; the measurer's `auto` exports then follow it (cost/agent.ts),
 * and the run notes which tuning that was, for the report.
 */
import type { ExportMode } from '../export/export.js';
import { formatTuning, tuneExport } from '../export/tune.js';
import { modelTuneShape, noteTuningInRun, tunedLabel, tunedVariant, type TuningRecord } from '../export/tuned.js';
import { loadCheckpoint, readCheckpointConfig } from '../model/checkpoint.js';
import type { RunStore } from '../store/run-store.js';
import type { AgentMeasurer } from './cost/agent.js';

export interface RunTuningOptions {
  store: RunStore;
  runId: string;
  baseCheckpoint: string;
  measurer: AgentMeasurer;
  mode: ExportMode;
  length: number;
  /** Measure when the class has no tuning yet; false: only follow an existing one. */
  tune: boolean;
  log: (line: string) => void;
}

export async function tuneForRun(o: RunTuningOptions): Promise<TuningRecord | undefined> {
  const cls = o.measurer.deviceClass;
  if (cls === null) {
    if (o.tune) throw new Error('--tune tunes one device class at a time: give one --tag (or --agent)');
    return undefined;
  }
  const ck = await readCheckpointConfig(o.baseCheckpoint);
  // The base's shape with its kept state width (a base with pruned states is tuned at that width).
  const { model } = await loadCheckpoint(o.baseCheckpoint);
  let rec: TuningRecord | undefined;
  try {
    rec = tunedVariant(o.store, cls, modelTuneShape(model, o.mode, o.length));
    if (rec && o.tune) o.log(`class ${cls} is tuned already (${rec.created_at}): not measuring again`);
    if (!rec && o.tune) {
      rec = await tuneExport(o.store, model, {
        mode: o.mode,
        length: o.length,
        deviceClass: cls,
        measurer: o.measurer,
        model: { checkpoint: o.baseCheckpoint, weights_sha256: ck.weights_sha256, run: o.runId },
        log: o.log,
      });
      o.log(formatTuning(rec));
    }
  } finally {
    model.dispose();
  }
  if (rec) {
    noteTuningInRun(o.store, o.runId, rec);
    o.log(`exports: variant ${tunedLabel(rec)}`);
  }
  return rec;
}
