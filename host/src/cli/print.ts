/** Printing shared by commands: a pruning run and its candidates (`s4op prune` at its end, `s4op runs RUN`). */
import { axisPathText, formatTable, type CandidateRow } from '../prune/report.js';
import type { RunRecord } from '../store/run-store.js';
import { emit } from './util.js';

export function printRun(flags: { json?: boolean }, run: RunRecord, rows: CandidateRow[]): void {
  const summary = run.summary as { final_candidate?: number } | null;
  const final = rows.find((r) => r.id === summary?.final_candidate) ?? null;
  emit(
    flags,
    {
      run: run.id,
      status: run.status,
      stop_reason: run.stop_reason,
      strategy: run.strategy,
      base_checkpoint: run.base_checkpoint,
      final,
      candidates: rows,
    },
    () =>
      [
        `run ${run.id} (${run.strategy}) ${run.status}${run.stop_reason ? `: ${run.stop_reason}` : ''}`,
        formatTable(rows),
        rows.some((r) => r.step > 0 && r.axis !== 'operators') ? `path: ${axisPathText(rows)}` : '',
        final
          ? `final: step ${final.step} (${final.axis === 'operators' ? `${final.rate}%) seed ${final.seed}` : `${final.axis}: ${final.rate}% operators, ${final.state_rate}% states, ${final.precision})`}, val ${((final.val_metric ?? NaN) * 100).toFixed(2)}%, test ${((final.test_metric ?? NaN) * 100).toFixed(2)}%, ${final.checkpoint}`
          : '',
      ]
        .filter(Boolean)
        .join('\n'),
  );
}
