import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HOST_CLI, killAll, runCli } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 's4op-data-cli-'));
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

/** A version 1.0 .npy file of little-endian data (header padded to 64 bytes). */
function npy(descr: string, shape: number[], data: ArrayBufferView): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.length === 1 ? `${shape[0]},` : shape.join(', ')}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    head,
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

describe('s4op data info', () => {
  it('describes a .npy pair as JSON and as text', async () => {
    const N = 40;
    writeFileSync(
      join(dir, 'seq.x.npy'),
      npy(
        '<f4',
        [N, 16, 2],
        new Float32Array(N * 32).map((_, i) => i / 100),
      ),
    );
    writeFileSync(
      join(dir, 'seq.y.npy'),
      npy(
        '<i4',
        [N],
        new Int32Array(N).map((_, n) => (n < 30 ? 0 : 1)),
      ),
    );
    const r = await runCli(HOST_CLI, ['data', 'info', join(dir, 'seq'), '--json', '--seed', '3']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ length: 16, inputKind: 'continuous', inputSize: 2, numClasses: 2, multiLabel: false });
    expect(info.splits).toEqual({ train: 32, val: 4, test: 4 });
    const total = info.classBalance.train.map(
      (n: number, c: number) => n + info.classBalance.val[c] + info.classBalance.test[c],
    );
    expect(total).toEqual([30, 10]);
    expect(info.spec.seed).toBe(3);

    const text = await runCli(HOST_CLI, ['data', 'info', join(dir, 'seq'), '--val', '8']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('length    16 steps, continuous, 2 features per step');
    expect(text.stdout).toContain('splits    train 28, val 8, test 4');
  });

  it('describes a generated ListOps set', async () => {
    const args = [
      '--min-length',
      '10',
      '--max-length',
      '40',
      '--max-depth',
      '4',
      '--max-args',
      '4',
      '--train',
      '100',
      '--val',
      '20',
      '--test',
      '20',
    ];
    const r = await runCli(HOST_CLI, ['data', 'info', 'listops', '--json', ...args]);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ name: 'listops', length: 40, inputKind: 'tokens', vocabSize: 16, numClasses: 10 });
    expect(info.classBalance.test.reduce((a: number, b: number) => a + b)).toBe(20);
  });

  it('rejects a bad file with a message that names it, and exits non-zero', async () => {
    writeFileSync(join(dir, 'bad.x.npy'), 'this is not numpy');
    writeFileSync(join(dir, 'bad.y.npy'), npy('<i4', [1], new Int32Array([0])));
    const r = await runCli(HOST_CLI, ['data', 'info', join(dir, 'bad')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${join(dir, 'bad.x.npy')}: not a .npy file (wrong magic header`);
    expect(r.stdout).toBe('');

    writeFileSync(join(dir, 'ragged.jsonl'), '{"x": [1, 2], "y": 0}\n{"x": [1], "y": 0}\n');
    const j = await runCli(HOST_CLI, ['data', 'info', join(dir, 'ragged.jsonl')]);
    expect(j.code).not.toBe(0);
    expect(j.stderr).toContain('ragged.jsonl line 2: ragged sequences');

    const flag = await runCli(HOST_CLI, ['data', 'info', 'smnist', '--seed', 'abc']);
    expect(flag.code).not.toBe(0);
    expect(flag.stderr).toContain("option '--seed <n>' argument 'abc' is invalid");
  });
});
