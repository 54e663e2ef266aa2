/**
 * Every initializer an export writes is read by a node: checked on the graph itself, and by loading every
 * export in onnxruntime-node at log severity "warning" in a child process (onnxruntime logs from C++ to
 * stderr) and asserting it does not warn about an unused initializer ("Removing initializer … It is not used
 * by any node"). Covers every registered conv variant, step mode, S4D, S4, bidirectional, pruned and unpruned,
 * both bypasses, and lengths that give one, two, three and many blocks.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { exportModel, type ExportOptions } from '../../host/src/export/export.js';
import { decodeModel } from '../../host/src/export/onnx-builder.js';
import { CONV_VARIANTS, variantNames } from '../../host/src/export/variants/registry.js';
import type { ModelConfig } from '../../host/src/model/config.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const dir = mkdtempSync(join(tmpdir(), 's4op-inits-'));
beforeAll(async () => {
  await initBackend('cpu');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ARCHS: [string, Partial<ModelConfig>][] = [
  ['s4d', { ssm: 's4d' }],
  ['s4', { ssm: 's4' }],
  ['s4d-bidir', { ssm: 's4d', bidirectional: true }],
  [
    's4d-tokens-prenorm-batchnorm',
    { ssm: 's4d', inputKind: 'tokens', vocabSize: 5, inputSize: 5, prenorm: true, norm: 'batch' },
  ],
];

/** name → export options, for one architecture. */
function cases(over: Partial<ModelConfig>): [string, ExportOptions][] {
  const out: [string, ExportOptions][] = [];
  for (const v of CONV_VARIANTS.values()) {
    if (v.kinds && !v.kinds.includes(over.ssm!)) continue;
    // Block 16: L = 1 and 16 give one block, 20 and 32 two, 40 three (padded), 300 many.
    for (const length of [1, 16, 20, 32, 40, 300]) {
      for (const bypass of ['fold', 'scatter'] as const)
        out.push([
          `${v.name}-L${length}-${bypass}`,
          { mode: 'conv', variant: v.name, length, bypass, variantOptions: { block: 16 } },
        ]);
    }
    const long = Math.min(784, v.maxLength ?? 784);
    out.push([`${v.name}-L${long}-default`, { mode: 'conv', variant: v.name, length: long }]);
  }
  if (!over.bidirectional) {
    for (const variant of variantNames('step'))
      for (const bypass of ['fold', 'scatter'] as const)
        out.push([`step-${variant}-${bypass}`, { mode: 'step', variant, bypass }]);
  }
  return out;
}

const files: string[] = [];

describe.each(ARCHS)('%s', (arch, over) => {
  const cfg = tinyConfig({ dModel: 6, dState: 8, nLayers: 3, ...over });
  const models = [6, 4, 0].map((keep, i) => {
    const m = new SequenceModel(cfg, 2);
    // Layer 1 keeps every operator, layer 2 none (no SSM at all), layer 0 `keep`.
    m.setActive(
      0,
      Array.from({ length: keep }, (_, k) => (k * 5) % 6),
    );
    m.setActive(2, []);
    return [i, m] as const;
  });
  it('every initializer is an input of some node (all variants, modes, lengths, pruning, bypasses)', () => {
    for (const [i, m] of models) {
      for (const [name, opts] of cases(over)) {
        const r = exportModel(m, opts);
        const file = join(dir, `${arch}-${name}-m${i}.onnx`);
        writeFileSync(file, r.bytes);
        files.push(file);
        const g = decodeModel(r.bytes).graph!;
        const used = new Set(g.node!.flatMap((n) => n.input!));
        const unused = g.initializer!.map((t) => t.name!).filter((t) => !used.has(t));
        expect(unused, `${arch} ${name} model ${i}`).toEqual([]);
      }
    }
  });
});

it('onnxruntime-node loads every export above without an unused-initializer warning', () => {
  expect(files.length).toBeGreaterThan(100);
  const script = `
    import * as ort from 'onnxruntime-node';
    import { readFileSync } from 'node:fs';
    for (const f of process.argv.slice(1)) {
      process.stderr.write('@@ ' + f + '\\n');
      const s = await ort.InferenceSession.create(readFileSync(f), { logSeverityLevel: 2, graphOptimizationLevel: 'all' });
      await s.release();
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, ...files], {
    encoding: 'utf8',
    cwd: process.cwd(),
    maxBuffer: 1 << 26,
  });
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  // stderr: '@@ file' before each load, then whatever onnxruntime logged while loading it.
  const warned = r.stderr
    .split('@@ ')
    .filter((chunk) => /Removing initializer|not used by any node|unused/i.test(chunk));
  expect(warned.map((c) => c.slice(0, 400))).toEqual([]);
  expect(r.stderr.split('@@ ').length - 1).toBe(files.length);
});
