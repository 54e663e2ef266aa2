/**
 * `s4op prune --axes operators,states,int8` as a real process measuring on a real local agent (onnxruntime,
 * paired with the base): the run takes steps along at least two different axes, every candidate records its
 * axis, an int8 candidate's accuracy is its ONNX model's (onnxruntime) and its measured export is int8, and
 * `s4op runs` prints the path. The model is one whose SSM is a large share of the time (d_state 64), so both
 * pruning axes buy measurable latency.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModel } from '../../host/src/export/onnx-builder.js';
import { HOST_CLI, killAll, runCli, trainTinyListops } from '../helpers/processes.js';
import { readFile } from 'node:fs/promises';

let dir: string;
let ck: string;
const SETTINGS = JSON.stringify({ min_duration_ms: 250, warmup_ms: 50, warmup_runs: 3, min_samples: 20 });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 's4op-axes-'));
  ck = path.join(dir, 'base');
  // An SSM-heavy model (d_state 64) on 30–64 tokens; lr as `s4op train`'s default.
  const r = await trainTinyListops(ck, {
    train: 64,
    val: 48,
    test: 48,
    dModel: 48,
    dState: 64,
    epochs: 1,
    lr: 0.004,
    minLength: 30,
    maxLength: 64,
    maxDepth: 4,
    maxArgs: 5,
    timeoutMs: 180_000,
  });
  expect(r.code, r.stderr).toBe(0);
}, 200_000);

afterAll(async () => {
  killAll();
  await rm(dir, { recursive: true, force: true });
});

interface Row {
  step: number;
  seed: number;
  axis: string;
  precision: string;
  state_rate: number;
  rate: number;
  chosen: number;
  val_metric: number;
  checkpoint: string;
  extra: string;
}

describe('s4op prune --axes', () => {
  it('moves along at least two axes with a real agent; int8 candidates are evaluated and measured as int8', async () => {
    const ws = path.join(dir, 'ws');
    const args = [
      'prune',
      '--checkpoint',
      ck,
      '--workspace',
      ws,
      '--run-id',
      'joint',
      '--axes',
      'operators,states,int8',
      '--rates',
      '50,90',
      '--state-rates',
      '50,90',
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
    ];
    const r = await runCli(HOST_CLI, args, { timeoutMs: 400_000 });
    expect(r.code, r.stderr).toBe(0);
    const db = new Database(path.join(ws, 'runs.sqlite'), { readonly: true });
    const rows = db.prepare('SELECT * FROM candidates ORDER BY step, seed').all() as Row[];
    db.close();
    // Every step proposed each axis that had a next point; the candidates say which.
    const step1 = rows.filter((c) => c.step === 1).map((c) => c.axis);
    expect(step1).toEqual(['operators', 'states', 'int8']);
    const path_ = rows.filter((c) => c.chosen && c.step > 0).map((c) => c.axis);
    expect(new Set(path_).size, `path ${path_.join(' → ')}\n${r.stderr}`).toBeGreaterThanOrEqual(2);
    // An int8 candidate: precision recorded, its kept ONNX is quantised, its accuracy came from onnxruntime.
    const int8 = rows.find((c) => c.axis === 'int8')!;
    expect(int8.precision).toBe('int8');
    const onnx = decodeModel(await readFile(path.join(int8.checkpoint, 'model.onnx')));
    expect(onnx.graph!.node!.some((n) => n.opType === 'MatMulInteger' || n.opType === 'DynamicQuantizeLinear')).toBe(
      true,
    );
    expect(onnx.metadataProps!.find((p) => p.key === 'precision')?.value).toBe('int8');
    expect(r.stderr).toMatch(/int8\): encoder, mixing and decoder MatMuls to int8 .*evaluating the ONNX model/);
    // States candidates prune the requested share.
    expect(rows.filter((c) => c.axis === 'states').map((c) => c.state_rate)).toContain(50);
    expect(r.stderr).toMatch(/per point/);
    const show = await runCli(HOST_CLI, ['runs', 'joint', '--workspace', ws]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^path: base \(/m);
  }, 420_000);
});
