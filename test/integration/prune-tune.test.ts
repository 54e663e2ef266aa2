/**
 * `s4op prune --tune` on a real local agent: the device class (local) is tuned once before the search, the
 * candidates are measured as the tuning's variant, a second run for the class does not tune again, and the
 * run's report names the tuned variant.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listTunings } from '../../host/dist/export/tuned.js';
import { RunStore } from '../../host/dist/store/run-store.js';
import { HOST_CLI, killAll, runCli, trainTinyListops } from '../helpers/processes.js';

let dir: string;
let ck: string;
const SETTINGS = JSON.stringify({ min_duration_ms: 50, warmup_ms: 10, warmup_runs: 2, min_samples: 8 });
const pruneArgs = (ws: string, id: string) => [
  'prune',
  '--checkpoint',
  ck,
  '--workspace',
  ws,
  '--run-id',
  id,
  '--rates',
  '50',
  '--seeds',
  '1',
  '--finetune-epochs',
  '1',
  '--max-steps',
  '2',
  '--settings',
  SETTINGS,
  '--backend',
  'cpu',
  '--tune',
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 's4op-prune-tune-'));
  ck = path.join(dir, 'base');
  const r = await trainTinyListops(ck, { train: 64, val: 32, test: 32, dModel: 8, epochs: 1 });
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  killAll();
  await rm(dir, { recursive: true, force: true });
});

describe('s4op prune --tune', () => {
  it('tunes the class once before the search, a second run of the class does not tune again, and the report names the variant', async () => {
    const ws = path.join(dir, 'ws');
    const first = await runCli(HOST_CLI, pruneArgs(ws, 'one'), { timeoutMs: 150_000 });
    expect(first.code, first.stderr).toBe(0);
    // The reference is what auto exports for this narrow model with few modes, the others paired against it.
    expect(first.stderr).toMatch(/tuning conv export for class local on local: (prefix|chunked|scan|toeplitz) T=\d+, /);
    expect(first.stderr).toMatch(/exports: variant .* \(tuned for class local on \d{4}-\d\d-\d\d\)/);

    const store = RunStore.openWorkspace(ws);
    let label: string;
    try {
      const tunings = listTunings(store, 'local');
      expect(tunings).toHaveLength(1);
      const t = tunings[0]!;
      label = t.label;
      expect(t.shape).toMatchObject({ mode: 'conv', d_model: 8, d_state: 4, n_layers: 2, ssm: 's4d' });
      expect(t.options.length).toBeGreaterThanOrEqual(3);
      expect((store.getRun('one')!.config as { measure: { tuned: { id: number } } }).measure.tuned.id).toBe(t.id);
    } finally {
      store.close();
    }

    const second = await runCli(HOST_CLI, pruneArgs(ws, 'two'), { timeoutMs: 150_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/class local is tuned already .*: not measuring again/);
    expect(second.stderr).not.toMatch(/tuning conv export/);
    const again = RunStore.openWorkspace(ws);
    try {
      expect(listTunings(again, 'local')).toHaveLength(1);
    } finally {
      again.close();
    }

    const out = path.join(dir, 'report.html');
    const rep = await runCli(HOST_CLI, ['report', 'one', '--workspace', ws, '--out', out]);
    expect(rep.code, rep.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html).toContain(`variant ${label} (tuned for class local on `);
  });

  it('rejects --tune with --estimate or a fixed variant', async () => {
    const ws = path.join(dir, 'bad');
    for (const [extra, message] of [
      [['--estimate'], /--tune measures exports on an agent: drop --estimate/],
      [['--variant', 'fft'], /--tune chooses the variant: drop --variant fft/],
    ] as const) {
      const r = await runCli(HOST_CLI, [...pruneArgs(ws, `bad-${extra.length}`), ...extra]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
