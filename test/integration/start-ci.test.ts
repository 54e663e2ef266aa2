/**
 * `npm start` (scripts/start.mjs) under CI=true, as CI runs it: every phase runs in order as a real CLI
 * process (train, serve, a separate agent, measure, prune twice through the server, report), the run store holds
 * a finished run whose candidates were measured by the local agent, and the report file it names exists
 * with all its charts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_CLI, REPO, runCli } from '../helpers/processes.js';

let dir: string;
let stdout = '';
let stderr = '';
let code: number | null = null;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 's4op-start-'));
  const child = spawn(process.execPath, [path.join(REPO, 'scripts/start.mjs')], {
    env: { ...process.env, CI: 'true', S4OP_DEMO_DIR: path.join(dir, 'demo') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 170_000);
  code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(killer);
}, 180_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm start (CI=true)', () => {
  it('runs every phase in order and exits 0', () => {
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr.slice(-3000)}`).toBe(0);
    const phases = [...stdout.matchAll(/^== \[(\d)\/8\] (\w+)/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(phases).toEqual(['1 host', '2 train', '3 serve', '4 agent', '5 measure', '6 prune', '7 prune', '8 report']);
    expect(stdout).toMatch(/CI \(reduced\) configuration \(CI=true\)/);
    expect(stdout).toMatch(/dashboard \(live while this runs\): http:\/\/127\.0\.0\.1:\d+\/dashboard#token=/);
    expect(stdout).toMatch(/--steer/);
  });

  it('pruned with the local agent measuring every candidate, in the workspace the server used', () => {
    const runId = /pruned in run (\S+)/.exec(stdout)![1]!;
    const db = new Database(path.join(dir, 'demo', 'workspace', 'runs.sqlite'), { readonly: true });
    try {
      const run = db.prepare('SELECT status, stop_reason FROM runs WHERE id = ?').get(runId) as {
        status: string;
        stop_reason: string | null;
      };
      // Finished after the last rate, or stopped early once the measured latency met the budget.
      expect(['finished', 'stopped']).toContain(run.status);
      expect(run.stop_reason).toMatch(/last rate|budget/);
      const budget = Number(/latency budget ([\d.]+)x the base's/.exec(stdout)![1]);
      expect(budget).toBeGreaterThan(0);
      expect(budget).toBeLessThan(1);
      const cands = db
        .prepare(
          'SELECT c.step, m.kind, m.agent, m.p50_ms, m.ratio, m.ratio_low, m.ratio_high FROM candidates c JOIN measurements m ON m.id = c.measurement_id WHERE c.run_id = ? ORDER BY c.step',
        )
        .all(runId) as {
        step: number;
        kind: string;
        agent: string;
        p50_ms: number;
        ratio: number | null;
        ratio_low: number | null;
        ratio_high: number | null;
      }[];
      expect(cands[0]!.step).toBe(0);
      expect(cands.length).toBeGreaterThanOrEqual(2);
      for (const c of cands) {
        expect(c.kind).toBe('measured');
        expect(c.p50_ms).toBeGreaterThan(0);
        // Every pruned candidate was timed paired with the base: its ratio and interval are stored.
        if (c.step > 0) expect(c.ratio_low! <= c.ratio! && c.ratio! <= c.ratio_high!).toBe(true);
      }
      // The candidates' ratios are printed, and the answer is on the front.
      expect(stdout).toMatch(/ratio to base \[95% CI\]/);
      const summary = JSON.parse(
        (db.prepare('SELECT summary FROM runs WHERE id = ?').get(runId) as { summary: string }).summary,
      ) as { final_candidate: number; front: number[] };
      expect(summary.front).toContain(summary.final_candidate);
      // The agent was a separate process registered by `s4op serve` (device facts kept for the report).
      const agent = db.prepare("SELECT device FROM agents WHERE name = 'local'").get() as { device: string };
      expect((JSON.parse(agent.device) as { cores: number }).cores).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  });

  it("names the report file, which holds every chart and the agent's facts", () => {
    const report = /^report: (.+)$/m.exec(stdout)![1]!.trim();
    expect(existsSync(report)).toBe(true);
    const html = readFileSync(report, 'utf8');
    for (const id of ['metric', 'ratio', 'latency', 'pareto', 'profile', 'allocation', 'distribution', 'thermals'])
      expect(html).toMatch(new RegExp(`<figure id="chart-${id}"[^>]*>[\\s\\S]*?<svg`));
    // Both strategies' curves: the reported run (Taylor importance) and the comparison run (random).
    expect(html).toMatch(
      /Symbol legend titled 'strategy' for fill color and stroke color with 2 values: (importance \(taylor\), s4op|s4op, importance \(taylor\))/,
    );
    expect(html).toMatch(/<tr data-agent="local"><td class="l">local<\/td><td class="l">[^<]+<\/td><td>\d+<\/td>/);
  });

  it('s4op report: --json names the file; an unknown run is refused with the runs it has', async () => {
    const ws = path.join(dir, 'demo', 'workspace');
    const runId = /pruned in run (\S+)/.exec(stdout)![1]!;
    const out = path.join(dir, 'again.html');
    const ok = await runCli(HOST_CLI, ['report', runId, '--workspace', ws, '--out', out, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const summary = JSON.parse(ok.stdout) as { report: string; charts: string[]; candidates: number };
    expect(summary.report).toBe(out);
    expect(summary.charts).toEqual([
      'metric',
      'ratio',
      'latency',
      'pareto',
      'profile',
      'allocation',
      'distribution',
      'thermals',
    ]);
    expect(existsSync(out)).toBe(true);
    const bad = await runCli(HOST_CLI, ['report', 'no-such-run', '--workspace', ws]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no run no-such-run in');
    expect(bad.stderr).toContain(runId);
  });

  it('ends with the follow-up commands for its own workspace, and they work', async () => {
    const runId = /pruned in run (\S+)/.exec(stdout)![1]!;
    const ws = path.join(dir, 'demo', 'workspace');
    const listed = /^ {2}npx s4op runs --workspace (\S+)$/m.exec(stdout);
    expect(listed?.[1]).toBe(ws);
    expect(stdout).toContain(`npx s4op runs ${runId} --workspace ${ws}`);
    expect(stdout).toMatch(/^ {2}npx s4op report \S+ --workspace /m);
    const runs = await runCli(HOST_CLI, ['runs', '--workspace', listed![1]!]);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toContain(runId);
  });
});
