import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { emit, log, UserError } from '../util.js';
import { candidateRows, toCsv } from '../../prune/report.js';
import { RunStore } from '../../store/run-store.js';
import { printRun } from '../print.js';

interface RunsFlags {
  workspace: string;
  json?: boolean;
  csv?: string;
}

export function register(program: Command): void {
  program
    .command('runs')
    .argument('[run]', "show this run's candidates")
    .description("list the pruning runs of a workspace, or show one run's candidates")
    .option('--workspace <dir>', 'where runs.sqlite lives', '.s4op')
    .option('--json', 'print JSON')
    .option('--csv <file>', 'with a run: write its candidates as CSV')
    .action(async (id: string | undefined, flags: RunsFlags) => {
      const store = RunStore.openWorkspace(flags.workspace);
      try {
        if (id) {
          const run = store.getRun(id);
          if (!run) throw new UserError(`no run ${id} in ${store.file}`);
          const rows = candidateRows(store, id);
          if (flags.csv) {
            await writeFile(flags.csv, toCsv(rows));
            log(`wrote ${rows.length} candidates to ${flags.csv}`);
          }
          printRun(flags, run, rows);
          return;
        }
        if (flags.csv) throw new UserError('--csv needs a run: s4op runs RUN --csv FILE');
        const runs = store.listRuns().map((r) => {
          const rows = candidateRows(store, r.id);
          const summary = r.summary as { final_candidate?: number } | null;
          const final = rows.find((c) => c.id === summary?.final_candidate);
          const base = rows.find((c) => c.step === 0);
          return {
            id: r.id,
            created_at: r.created_at,
            status: r.status,
            strategy: r.strategy,
            base_checkpoint: r.base_checkpoint,
            candidates: rows.filter((c) => c.status === 'finished').length,
            base_val: base?.val_metric ?? null,
            final_val: final?.val_metric ?? null,
            final_pruned: final?.pruned ?? null,
            stop_reason: r.stop_reason,
          };
        });
        emit(flags, runs, () => {
          if (!runs.length) return `no runs in ${store.file}`;
          const p = (v: number | null) => (v == null ? '-' : (100 * v).toFixed(2));
          const head = [
            'run',
            'created',
            'status',
            'strategy',
            'candidates',
            'base val%',
            'final val%',
            'pruned%',
            'why it ended',
          ];
          const body = runs.map((r) => [
            r.id,
            r.created_at.slice(0, 19).replace('T', ' '),
            r.status,
            r.strategy,
            String(r.candidates),
            p(r.base_val),
            p(r.final_val),
            p(r.final_pruned),
            r.stop_reason ?? '',
          ]);
          const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
          return [head, ...body]
            .map((row) =>
              row
                .map((c, i) => c.padEnd(widths[i]!))
                .join('  ')
                .trimEnd(),
            )
            .join('\n');
        });
      } finally {
        store.close();
      }
    });
}
