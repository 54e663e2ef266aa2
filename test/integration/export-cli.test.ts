/**
 * `s4op export` as a real process on checkpoints written to disk: conv and step exports that load in
 * onnxruntime-node and match the model, the JSON summary, and clear errors (exit 2) for a missing or
 * corrupt checkpoint, an unsupported length, an unknown variant and an unknown precision; an int8 export.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { runStepModel, type TensorClass } from '../../host/src/export/step-runner.js';
import { saveCheckpoint, WEIGHTS_FILE } from '../../host/src/model/checkpoint.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { HOST_CLI, killAll, runCli } from '../helpers/processes.js';
import { relErr } from '../helpers/numeric.js';

const dir = mkdtempSync(join(tmpdir(), 's4op-export-cli-'));
const ckpt = join(dir, 'ckpt');
const L = 32;
const cfg = tinyConfig({ dModel: 8, dState: 6 });
let model: SequenceModel;
const x = Float32Array.from({ length: 2 * L * cfg.inputSize }, (_, i) => Math.sin(0.21 * i));
let ref: Float32Array;

beforeAll(async () => {
  await initBackend('cpu');
  model = new SequenceModel(cfg, 7);
  model.setActive(0, [0, 3, 5]);
  model.setActive(1, [1, 2, 4, 6, 7]);
  await saveCheckpoint(ckpt, model, { dataset: { name: 'synthetic', length: L } });
  ref = tf.tidy(
    () => model.forward(tf.tensor3d(x, [2, L, cfg.inputSize]), { training: false }).dataSync() as Float32Array,
  );
});
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('s4op export', () => {
  it('conv mode: the length comes from the checkpoint, the file runs in onnxruntime-node and matches the model', async () => {
    const out = join(dir, 'conv.onnx');
    const r = await runCli(HOST_CLI, [
      'export',
      '--checkpoint',
      ckpt,
      '--mode',
      'conv',
      '--out',
      out,
      '--json',
      '--backend',
      'cpu',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    const bytes = readFileSync(out);
    // auto: 4 active rows per layer on average at L 32 → toeplitz (registry.ts autoConvVariant).
    expect(summary).toMatchObject({
      mode: 'conv',
      variant: 'toeplitz',
      length: L,
      active_operators: 8,
      total_operators: 16,
      pruning_rate: 0.5,
    });
    expect(summary.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    const s = await ort.InferenceSession.create(bytes);
    const got = (await s.run({ x: new ort.Tensor('float32', x, [2, L, cfg.inputSize]) })).logits!.data as Float32Array;
    expect(relErr(got, ref)).toBeLessThan(1e-4);
  });

  it('step mode (text output) runs over the sequence to the same logits', async () => {
    const out = join(dir, 'step.onnx');
    const r = await runCli(HOST_CLI, [
      'export',
      '--checkpoint',
      ckpt,
      '--mode',
      'step',
      '--variant',
      'auto',
      '--out',
      out,
      '--backend',
      'cpu',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('step mode, variant packed; 8/16 operators active (50.0 % pruned)');
    expect(r.stderr).toContain('step states: ssm_state, pool');
    const s = await ort.InferenceSession.create(readFileSync(out));
    // Packed: both layers' states (3 + 5 active channels, M + 1 = 4 slots) in one tensor, pooling in another.
    const states = [
      { input: 'ssm_state', output: 'ssm_state_next', dims: ['batch', 8, 2, 4] },
      { input: 'pool', output: 'pool_next', dims: ['batch', 9] },
    ] as const;
    const run = await runStepModel(s as never, ort.Tensor as unknown as TensorClass, states as never, {
      batch: 2,
      length: L,
      x,
      inputSize: cfg.inputSize,
    });
    expect(relErr(run.logits[L - 1]!, ref)).toBeLessThan(1e-4);
  });

  it('--precision int8: the quantised conv export runs and stays within 3 % of the model', async () => {
    const out = join(dir, 'int8.onnx');
    const args = ['export', '--checkpoint', ckpt, '--mode', 'conv', '--precision', 'int8', '--out', out];
    const r = await runCli(HOST_CLI, [...args, '--json', '--backend', 'cpu']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { precision: string }).precision).toBe('int8');
    const s = await ort.InferenceSession.create(readFileSync(out));
    const got = (await s.run({ x: new ort.Tensor('float32', x, [2, L, cfg.inputSize]) })).logits!.data as Float32Array;
    await s.release();
    const err = relErr(got, ref);
    expect(err).toBeLessThan(0.03);
    expect(err).toBeGreaterThan(1e-5); // quantised, not the float graph
  });

  it.each([
    [['--checkpoint', join(dir, 'nowhere'), '--mode', 'conv'], /checkpoint .*nowhere does not exist/],
    [
      ['--checkpoint', ckpt, '--mode', 'conv', '--variant', 'winograd'],
      /unknown conv variant "winograd"; known: chunked, prefix, scan, toeplitz, fft, direct, or auto/,
    ],
    [['--checkpoint', ckpt, '--mode', 'conv', '--length', '0'], /unsupported sequence length 0/],
    [['--checkpoint', ckpt, '--mode', 'conv', '--length', 'long'], /--length must be a positive integer, got "long"/],
    [['--checkpoint', ckpt, '--mode', 'sideways'], /unknown --mode "sideways"; expected conv or step/],
    [['--checkpoint', ckpt, '--mode', 'conv', '--block', '-3'], /--block must be a positive integer, got "-3"/],
    [
      ['--checkpoint', ckpt, '--mode', 'conv', '--precision', 'int4'],
      /unknown --precision "int4"; expected float32 or int8/,
    ],
  ])('rejects %j with a clear error', async (args, message) => {
    const r = await runCli(HOST_CLI, ['export', ...args, '--out', join(dir, 'bad.onnx'), '--backend', 'cpu']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  it('rejects a corrupt checkpoint', async () => {
    const bad = join(dir, 'corrupt');
    await saveCheckpoint(bad, model);
    const file = join(bad, WEIGHTS_FILE);
    const bytes = readFileSync(file);
    bytes[bytes.length - 3]! ^= 0xff;
    writeFileSync(file, bytes);
    const r = await runCli(HOST_CLI, [
      'export',
      '--checkpoint',
      bad,
      '--mode',
      'step',
      '--out',
      join(dir, 'bad.onnx'),
      '--backend',
      'cpu',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model\.safetensors is corrupt/);
    // Conv mode without a recorded dataset length needs --length.
    const nolen = join(dir, 'nolen');
    await saveCheckpoint(nolen, model);
    const r2 = await runCli(HOST_CLI, [
      'export',
      '--checkpoint',
      nolen,
      '--mode',
      'conv',
      '--out',
      join(dir, 'bad.onnx'),
      '--backend',
      'cpu',
    ]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/conv mode needs --length/);
  });
});
