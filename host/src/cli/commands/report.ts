import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { emit, UserError } from '../util.js';
import { renderRunReport } from '../../report/index.js';
import { RunStore } from '../../store/run-store.js';

interface ReportFlags {
  workspace: string;
  out?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('report')
    .argument('<run>', 'run id (see s4op runs)')
    .description("write a run's report: one self-contained HTML file with its charts and tables")
    .option('--workspace <dir>', 'where runs.sqlite lives', '.s4op')
    .option('--out <file>', 'HTML file to write (default WORKSPACE/runs/RUN/report.html)')
    .option('--json', 'print where it went and what it holds as JSON')
    .action(async (runId: string, flags: ReportFlags) => {
      let store: RunStore;
      try {
        store = RunStore.openWorkspace(flags.workspace);
      } catch (err) {
        throw new UserError(`--workspace ${flags.workspace}: ${(err as Error).message}`);
      }
      try {
        if (!store.getRun(runId)) {
          const known = store.listRuns().map((r) => r.id);
          throw new UserError(
            `no run ${runId} in ${store.file}${known.length ? ` (runs: ${known.slice(-5).join(', ')})` : ' (it has no runs)'}`,
          );
        }
        const { report, html, charts } = await renderRunReport(store, runId);
        const out = path.resolve(flags.out ?? path.join(flags.workspace, 'runs', runId, 'report.html'));
        await mkdir(path.dirname(out), { recursive: true });
        await writeFile(out, html);
        const summary = {
          run: runId,
          report: out,
          bytes: Buffer.byteLength(html),
          charts: charts.map((c) => c.id),
          candidates: report.candidates.length,
          chosen: report.chosen?.label ?? null,
        };
        emit(
          flags,
          summary,
          () =>
            `wrote the report of run ${runId} (${summary.candidates} candidates, ${charts.length} charts) to ${out}`,
        );
      } finally {
        store.close();
      }
    });
}
