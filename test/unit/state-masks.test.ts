/**
 * State pruning (S4D): a model with modes masked equals the same model with those modes' C set to 0 — on the
 * host and in every exported variant of both modes (onnxruntime-node and -web) — and the masked modes are
 * absent from the exported tensors (narrower step states, less declared work). Masks survive fine-tuning and
 * save/load; S4 refuses them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { addingProblem } from '../../host/src/data/adding.js';
import { exportModel } from '../../host/src/export/export.js';
import { variantNames } from '../../host/src/export/variants/registry.js';
import { loadCheckpoint, saveCheckpoint } from '../../host/src/model/checkpoint.js';
import type { ModelConfig } from '../../host/src/model/config.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { train } from '../../host/src/train/trainer.js';
import { Rng } from '../../host/src/util/random.js';
import { relErr } from '../helpers/numeric.js';
import { hostLogits, RUNTIMES, runConv, runStep } from '../helpers/onnx-run.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const TOL = 1e-4;
const B = 2;
const L = 30;

let dir: string;
beforeAll(async () => {
  await initBackend('cpu');
  ortWeb.env.wasm.numThreads = 1;
  dir = await mkdtemp(path.join(tmpdir(), 's4op-states-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * Masks with a different number of kept modes per channel (0 to M), one channel of layer 0 bypassed as an
 * operator too.
 */
function masks(cfg: ModelConfig, seed: number): Uint8Array[] {
  const M = cfg.dState / 2;
  const rng = new Rng(seed);
  return Array.from({ length: cfg.nLayers }, () => {
    const m = new Uint8Array(cfg.dModel * M);
    for (let h = 0; h < cfg.dModel; h++) {
      const keep = h % (M + 1);
      const perm = Array.from({ length: M }, (_, k) => k).sort(() => rng.uniform(-1, 1));
      for (const k of perm.slice(0, keep)) m[h * M + k] = 1;
    }
    return m;
  });
}

/** `model` with its masks applied, and a copy that has the masked C zeroed by hand and no mask. */
function pair(cfg: ModelConfig, seed: number): { masked: SequenceModel; zeroed: SequenceModel; mask: Uint8Array[] } {
  const masked = new SequenceModel(cfg, seed);
  const zeroed = new SequenceModel(cfg, seed);
  const mask = masks(cfg, seed + 1);
  const n = mask[0]!.length;
  for (let i = 0; i < cfg.nLayers; i++) {
    masked.setStateMask(i, mask[i]!);
    for (const f of ['C_re', 'C_im']) {
      const name = `s4_layers.${i}.kernel.${f}`;
      const t = zeroed.params.get(name);
      zeroed.params.set(
        name,
        Float32Array.from(t.dataSync() as Float32Array, (v, j) => (mask[i]![j % n] ? v : 0)),
        t.shape,
      );
    }
  }
  masked.setActive(0, [0, 1, 2, 4, 5]);
  zeroed.setActive(0, [0, 1, 2, 4, 5]);
  return { masked, zeroed, mask };
}

function input(cfg: ModelConfig, length = L): Float32Array {
  return Float32Array.from(
    { length: B * length * cfg.inputSize },
    (_, i) => Math.sin(0.41 * i) + 0.2 * Math.cos(2.3 * i),
  );
}

describe.each([false, true])('state masks (bidirectional %s)', (bidirectional) => {
  const cfg = tinyConfig({ dModel: 6, dState: 8, nLayers: 2, bidirectional });
  const { masked, zeroed } = pair(cfg, 3);
  const x = input(cfg);

  it('the masked model equals the model with the masked modes’ C at 0 on the host (and differs from the unmasked)', () => {
    const ref = hostLogits(zeroed, x, B, L);
    expect(relErr(hostLogits(masked, x, B, L), ref)).toBeLessThan(1e-6);
    const unmasked = new SequenceModel(cfg, 3);
    unmasked.setActive(0, [0, 1, 2, 4, 5]);
    expect(relErr(hostLogits(unmasked, x, B, L), ref)).toBeGreaterThan(1e-3);
    unmasked.dispose();
  });

  it.each(RUNTIMES.flatMap(([name, ort]) => variantNames('conv').map((v) => [v, name, ort] as const)))(
    'conv variant %s of the masked model matches the zeroed host model in %s',
    async (variant, _name, ort) => {
      const r = exportModel(masked, { mode: 'conv', length: L, variant });
      expect(
        relErr(await runConv(ort, r.bytes, x, B, cfg.inputSize), hostLogits(zeroed, x, B, L)),
        variant,
      ).toBeLessThan(TOL);
      const widths = (JSON.parse(r.metadata.state_modes!) as { width: number }[]).map((s) => s.width);
      // Kept modes per channel are 0..M (h mod (M + 1)); the widest active channel keeps all M = 4.
      expect(widths).toEqual([4, 4]);
    },
  );

  if (!bidirectional) {
    it.each(RUNTIMES.flatMap(([name, ort]) => variantNames('step').map((v) => [v, name, ort] as const)))(
      'step variant %s of the masked model matches the zeroed host model in %s',
      async (variant, _name, ort) => {
        const step = exportModel(masked, { mode: 'step', variant });
        const run = await runStep(ort, step, x, B, L, cfg.inputSize);
        expect(relErr(run.logits[L - 1]!, hostLogits(zeroed, x, B, L))).toBeLessThan(TOL);
      },
    );
  }
});

describe('pruned modes are absent from the export', () => {
  it('narrower states and less declared work when every channel keeps fewer modes', async () => {
    const cfg = tinyConfig({ dModel: 6, dState: 16, nLayers: 2 });
    const M = cfg.dState / 2;
    const full = new SequenceModel(cfg, 5);
    const pruned = new SequenceModel(cfg, 5);
    // Every channel keeps 3 of its 8 modes (different ones per channel).
    for (let i = 0; i < cfg.nLayers; i++) {
      const m = new Uint8Array(cfg.dModel * M);
      for (let h = 0; h < cfg.dModel; h++) for (let k = 0; k < 3; k++) m[h * M + ((h + 2 * k + i) % M)] = 1;
      pruned.setStateMask(i, m);
    }
    const rec = exportModel(pruned, { mode: 'step', variant: 'recurrent' });
    expect(rec.states.filter((s) => s.input.startsWith('state_')).map((s) => s.dims)).toEqual([
      ['batch', 6, 2, 3],
      ['batch', 6, 2, 3],
    ]);
    const packed = exportModel(pruned, { mode: 'step', variant: 'packed' });
    expect(packed.states[0]!.dims).toEqual(['batch', 12, 2, 4]);
    for (const [mode, variant] of [
      ['conv', 'chunked'],
      ['conv', 'prefix'],
      ['step', 'packed'],
    ] as const) {
      const a = exportModel(full, { mode, variant, length: 64 });
      const b = exportModel(pruned, { mode, variant, length: 64 });
      const ssm = (r: typeof a) => (JSON.parse(r.metadata.declared_flops_by_section!) as Record<string, number>).ssm!;
      expect(ssm(b), `${mode} ${variant}`).toBeLessThan(0.75 * ssm(a));
    }
    // Parity of the narrow export with the host.
    const x = input(cfg, 64);
    const got = await runConv(
      ortNode,
      exportModel(pruned, { mode: 'conv', length: 64, variant: 'chunked' }).bytes,
      x,
      B,
      cfg.inputSize,
    );
    expect(relErr(got, hostLogits(pruned, x, B, 64))).toBeLessThan(TOL);
    full.dispose();
    pruned.dispose();
  });
});

describe('masks through fine-tuning and checkpoints', () => {
  it('masked C stays 0 through training; the mask and the model survive save/load', async () => {
    const data = addingProblem({ length: L, train: 32, val: 8, test: 8, seed: 2, digits: 2 });
    const cfg = tinyConfig({ dModel: 6, dState: 8, nLayers: 2, numClasses: data.info.numClasses });
    const { masked, mask } = pair(cfg, 7);
    const before = masked.params.get('s4_layers.1.kernel.C_re').dataSync().slice();
    train(masked, data, { epochs: 1, batchSize: 8, lr: 1e-2, lrSsm: 1e-2, quiet: true, patience: 0 });
    const M = cfg.dState / 2;
    for (let i = 0; i < cfg.nLayers; i++) {
      for (const f of ['C_re', 'C_im']) {
        const v = masked.params.get(`s4_layers.${i}.kernel.${f}`).dataSync();
        for (let j = 0; j < v.length; j++) if (!mask[i]![j]) expect(v[j], `${f} layer ${i} mode ${j}`).toBe(0);
      }
    }
    // Training did move the kept modes.
    const after = masked.params.get('s4_layers.1.kernel.C_re').dataSync();
    expect(relErr(after, before)).toBeGreaterThan(1e-4);
    const expected = masked.prunedStates();
    expect(expected[1]!.length).toBe(mask[1]!.filter((v) => v === 0).length);
    const ckpt = path.join(dir, 'masked');
    await saveCheckpoint(ckpt, masked);
    const { model: loaded, config } = await loadCheckpoint(ckpt);
    expect(config.pruned_states).toEqual(expected);
    expect(loaded.prunedStates()).toEqual(expected);
    const x = input(cfg);
    expect(relErr(hostLogits(loaded, x, B, L), hostLogits(masked, x, B, L))).toBeLessThan(1e-6);
    // Fewer active parameters: each pruned mode of an active channel drops A (2) and C (2).
    const pruned = expected.reduce(
      (a, l, i) => a + l.filter((j) => loaded.active(i).includes(Math.floor(j / M))).length,
      0,
    );
    const unmasked = new SequenceModel(cfg, 7);
    unmasked.setActive(0, [0, 1, 2, 4, 5]);
    expect(unmasked.parameterCount(true) - loaded.parameterCount(true)).toBe(4 * pruned);
    for (const m of [loaded, masked, unmasked]) m.dispose();
  });

  it('bad masks and S4 are refused with the reason', () => {
    const model = new SequenceModel(tinyConfig({ dModel: 4, dState: 4, nLayers: 1 }), 1);
    expect(() => model.setStateMask(0, [1, 0])).toThrow(/state mask has 2 entries, expected d_model·d_state\/2 = 8/);
    expect(() => model.setStateMask(0, [1, 0, 2, 1, 1, 1, 1, 1])).toThrow(/must be 0 or 1, got 2/);
    expect(() => model.setStateMask(3, null)).toThrow(/layer 3 out of range/);
    const s4 = new SequenceModel(tinyConfig({ ssm: 's4', dModel: 4, dState: 4, nLayers: 1 }), 1);
    expect(() => s4.setStateMask(0, new Uint8Array(8).fill(1))).toThrow(/not available for S4: .*low-rank term/);
    model.dispose();
    s4.dispose();
  });
});
