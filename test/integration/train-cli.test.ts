import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_CLI, killAll, runCli } from '../helpers/processes.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 's4op-train-'));
});
afterAll(async () => {
  killAll();
  await rm(dir, { recursive: true, force: true });
});

describe('s4op train', () => {
  it('trains on a short ListOps set and writes a loadable checkpoint with its record', async () => {
    const out = path.join(dir, 'listops');
    const r = await runCli(
      HOST_CLI,
      [
        'train',
        '--model',
        's4d',
        '--dataset',
        'listops',
        '--min-length',
        '20',
        '--max-length',
        '40',
        '--max-depth',
        '3',
        '--train',
        '64',
        '--val',
        '16',
        '--test',
        '16',
        '--d-model',
        '8',
        '--d-state',
        '4',
        '--layers',
        '1',
        '--epochs',
        '1',
        '--batch-size',
        '16',
        '--out',
        out,
        '--json',
      ],
      { timeoutMs: 120_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.steps).toBe(4);
    expect(summary.test_metric).toBeGreaterThanOrEqual(0);
    expect(r.stderr).toMatch(/tfjs backend: (wasm|cpu|tensorflow)/);
    const config = JSON.parse(await readFile(path.join(out, 'config.json'), 'utf8'));
    expect(config.model).toMatchObject({ ssm: 's4d', dModel: 8, inputKind: 'tokens', vocabSize: 16, numClasses: 10 });
    expect(config.active_operators).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    expect(config.dataset.spec.maxLength).toBe(40);
    expect(config.training.epochs).toHaveLength(1);
  });

  it('takes a config file and lets flags override it', async () => {
    const cfg = path.join(dir, 'cfg.json');
    await writeFile(
      cfg,
      JSON.stringify({
        model: { dModel: 4, dState: 2, nLayers: 1 },
        train: { epochs: 1, batchSize: 8, maxSteps: 2 },
        dataset: { minLength: 10, maxLength: 20, maxDepth: 2, splits: { train: 16, val: 8, test: 8 } },
      }),
    );
    const out = path.join(dir, 'cfg');
    const r = await runCli(
      HOST_CLI,
      ['train', '--model', 's4', '--dataset', 'listops', '--config', cfg, '--d-model', '6', '--out', out, '--json'],
      { timeoutMs: 120_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const config = JSON.parse(await readFile(path.join(out, 'config.json'), 'utf8'));
    expect(config.model).toMatchObject({ ssm: 's4', dModel: 6, dState: 2, nLayers: 1 });
    expect(JSON.parse(r.stdout).steps).toBe(2);
  });

  it('trains with two data-parallel replicas from the built CLI (worker threads from dist)', async () => {
    const out = path.join(dir, 'replicas');
    const r = await runCli(
      HOST_CLI,
      [
        'train',
        '--model',
        's4d',
        '--dataset',
        'listops',
        '--min-length',
        '20',
        '--max-length',
        '40',
        '--max-depth',
        '3',
        '--train',
        '64',
        '--val',
        '16',
        '--test',
        '16',
        '--d-model',
        '8',
        '--d-state',
        '4',
        '--layers',
        '1',
        '--epochs',
        '1',
        '--batch-size',
        '16',
        '--replicas',
        '2',
        '--out',
        out,
        '--json',
      ],
      { timeoutMs: 120_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.replicas).toBe(2);
    expect(summary.steps).toBe(4);
    expect(r.stderr).toContain('trained with 2 data-parallel replica(s)');
  });

  it('names a missing config file and a bad flag value', async () => {
    const missing = await runCli(HOST_CLI, [
      'train',
      '--model',
      's4d',
      '--dataset',
      'listops',
      '--config',
      path.join(dir, 'nope.json'),
    ]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('cannot read config file');
    const bad = await runCli(HOST_CLI, ['train', '--model', 's5', '--dataset', 'listops']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('expected one of s4d, s4');
  });
});
