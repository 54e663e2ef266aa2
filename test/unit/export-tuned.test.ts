/**
 * Tuning records in a real SQLite run store: the lookup matches the device class and every field of the
 * shape, the newest record of a class and shape wins, and the candidates come from the variant registry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { blockLengths, pickWinner, tuneCandidates } from '../../host/src/export/tune.js';
import {
  deviceClassOf,
  listTunings,
  recordTuning,
  modelTuneShape,
  shapeKey,
  tunedVariant,
  tuneShape,
  type TuneOption,
  type TuneShape,
  type TuningInput,
} from '../../host/src/export/tuned.js';
import { decodeModel } from '../../host/src/export/onnx-builder.js';
import { keptStateWidth } from '../../host/src/export/layer-ssm.js';
import { CONV_VARIANTS } from '../../host/src/export/variants/registry.js';
import { AgentMeasurer } from '../../host/src/prune/cost/agent.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { RunStore } from '../../host/src/store/run-store.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-tuned-'));
let store: RunStore;

beforeAll(async () => {
  await initBackend('cpu');
  store = RunStore.open(path.join(dir, 'runs.sqlite'));
});
afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const shape: TuneShape = tuneShape(tinyConfig({ dModel: 32, dState: 32, nLayers: 4 }), 'conv', 196);

function option(label: string, ratio: number, nodes = 100): TuneOption {
  const [variant, T] = label.split(' T=');
  return {
    label,
    variant: variant!,
    variant_options: T ? { block: Number(T) } : {},
    reference: ratio === 1,
    params: {},
    nodes,
    ssm_nodes: nodes,
    flops: 1,
    bytes: 1,
    model_sha256: 'a'.repeat(64),
    ratio,
    ratio_ci: null,
    p50_ms: null,
    reference_p50_ms: null,
    job_id: null,
  };
}

function tuning(deviceClass: string, s: TuneShape, label: string, created_at: string): TuningInput {
  const options = [option('chunked T=14', 1), option(label, 0.8)];
  const w = options[1]!;
  return {
    device_class: deviceClass,
    shape: s,
    variant: w.variant,
    variant_options: w.variant_options,
    label,
    reference: 'chunked T=14',
    options,
    agent: 'pi-1',
    settings: { threads: 1 },
    created_at,
  };
}

describe('tuning records', () => {
  it('are found by device class and the whole shape, and the newest of a class and shape wins', () => {
    recordTuning(store, tuning('pi5', shape, 'chunked T=32', '2026-12-01T10:00:00.000Z'));
    recordTuning(store, tuning('pi5', shape, 'fft', '2026-12-03T10:00:00.000Z'));
    // Recorded later but dated earlier: the date decides, not the insertion order.
    recordTuning(store, tuning('pi5', shape, 'direct', '2026-12-02T10:00:00.000Z'));
    recordTuning(store, tuning('jetson', shape, 'chunked T=8', '2026-12-05T10:00:00.000Z'));
    recordTuning(store, tuning('pi5', { ...shape, length: 784 }, 'chunked T=64', '2026-12-06T10:00:00.000Z'));

    const pi = tunedVariant(store, 'pi5', shape);
    expect(pi).toMatchObject({
      device_class: 'pi5',
      variant: 'fft',
      label: 'fft',
      agent: 'pi-1',
      reference: 'chunked T=14',
    });
    expect(pi!.options.map((o) => o.label)).toEqual(['chunked T=14', 'fft']);
    expect(tunedVariant(store, 'jetson', shape)).toMatchObject({ variant: 'chunked', variant_options: { block: 8 } });
    expect(tunedVariant(store, 'pi5', { ...shape, length: 784 })).toMatchObject({
      variant: 'chunked',
      variant_options: { block: 64 },
    });
    // Any other field of the shape, or another class: no record.
    for (const other of [
      { ...shape, length: 195 },
      { ...shape, d_model: 64 },
      { ...shape, d_state: 64 },
      { ...shape, n_layers: 6 },
      { ...shape, ssm: 's4' as const },
      { ...shape, bidirectional: true },
      { ...shape, mode: 'step' as const, length: null },
    ]) {
      expect(tunedVariant(store, 'pi5', other)).toBeUndefined();
    }
    expect(tunedVariant(store, 'pi4', shape)).toBeUndefined();
    expect(listTunings(store, 'pi5').map((t) => t.label)).toEqual(['chunked T=64', 'fft', 'direct', 'chunked T=32']);
  });

  it('name their class after the tag, else the agent, else local, and refuse bad names or winners', () => {
    expect(deviceClassOf({ tag: 'pi5', agent: 'x' })).toBe('pi5');
    expect(deviceClassOf({ agent: 'board-7' })).toBe('board-7');
    expect(deviceClassOf({})).toBe('local');
    expect(deviceClassOf({ deviceClass: 'lab', tag: 'pi5' })).toBe('lab');
    expect(() => deviceClassOf({ deviceClass: 'two words' })).toThrow(/device class "two words" must be/);
    expect(() =>
      recordTuning(store, { ...tuning('pi5', shape, 'fft', '2026-12-09T00:00:00.000Z'), label: 'winograd' }),
    ).toThrow(/winner "winograd" is not among its options/);
    expect(() => tuneShape(tinyConfig(), 'conv')).toThrow(/needs the sequence length/);
  });
});

describe('the tuner', () => {
  it('takes its candidates from the variant registry, with block lengths around d_state/2 for a variant that has one', () => {
    const model = new SequenceModel(tinyConfig({ dModel: 8, dState: 32, nLayers: 2 }), 3);
    try {
      const c = tuneCandidates(model, { mode: 'conv', length: 196 });
      // The reference is what auto exports for this model: toeplitz (8 rows at L 196; too short for prefix).
      expect(c[0]).toMatchObject({ reference: true, variant: 'toeplitz' });
      expect(new Set(c.map((x) => x.variant))).toEqual(new Set(CONV_VARIANTS.keys()));
      expect(c.filter((x) => x.variant === 'chunked').map((x) => x.variant_options.block)).toEqual([28, 8, 16, 32, 64]);
      expect(new Set(c.map((x) => x.label)).size).toBe(c.length);
      expect(
        tuneCandidates(model, { mode: 'conv', length: 196, block: 16, variants: ['direct', 'chunked'] }).map(
          (x) => x.label,
        ),
      ).toEqual(['chunked T=16', 'direct']);
      expect(tuneCandidates(model, { mode: 'step' }).map((x) => x.label)).toEqual(['packed', 'recurrent']);
      expect(() => tuneCandidates(model, { mode: 'conv', length: 196, variants: ['winograd'] })).toThrow(
        /unknown conv variant "winograd" to tune; known: chunked, prefix, scan, toeplitz, fft, direct/,
      );
    } finally {
      model.dispose();
    }
    // Only the variants that export the model at its length: an S4 model at L 600 has neither the S4D-only
    // variants nor toeplitz (up to L 512); naming only those is an error that says so.
    const s4 = new SequenceModel(tinyConfig({ ssm: 's4', dModel: 4, dState: 8, nLayers: 1 }), 3);
    try {
      expect(new Set(tuneCandidates(s4, { mode: 'conv', length: 600 }).map((x) => x.variant))).toEqual(
        new Set(['chunked', 'fft', 'direct']),
      );
      expect(() => tuneCandidates(s4, { mode: 'conv', length: 600, variants: ['scan', 'toeplitz'] })).toThrow(
        /none of the variants scan, toeplitz exports this model at L = 600/,
      );
    } finally {
      s4.dispose();
    }
    expect(blockLengths(32, 196)).toEqual([8, 16, 32, 64]);
    expect(blockLengths(64, 16_384)).toEqual([128]);
  });

  it('picks the smallest median ratio; a tie goes to the smaller graph', () => {
    const opts = [
      option('chunked T=14', 1, 288),
      option('fft', 0.9, 200),
      option('direct', 0.91, 28),
      option('chunked T=32', 0.95, 200),
    ];
    expect(pickWinner(opts).label).toBe('direct');
    expect(pickWinner(opts, 0).label).toBe('fft');
    expect(pickWinner([option('chunked T=14', 1, 288), option('direct', 1.5, 28)]).label).toBe('chunked T=14');
  });
});

describe("the pruning loop's measurer", () => {
  it("exports auto as the newest tuning of its class for the model's shape, and keeps an explicit variant", async () => {
    const model = new SequenceModel(tinyConfig({ dModel: 8, dState: 8, nLayers: 2 }), 4);
    const s = tuneShape(model.config, 'conv', 64);
    const meta = (bytes: Uint8Array) =>
      Object.fromEntries(decodeModel(bytes).metadataProps.map((p) => [p.key!, p.value!]));
    // With a server URL nothing is started: prepare() only exports.
    const start = (deviceClass: string, variant?: string) =>
      AgentMeasurer.start({
        mode: 'conv',
        length: 64,
        variant,
        server: { url: 'http://127.0.0.1:9', token: 't' },
        cacheDir: dir,
        tuning: { store, deviceClass },
      });
    try {
      const untuned = await start('bench-7');
      expect(meta(untuned.prepare(model, 'c').bytes!)).toMatchObject({ variant: 'toeplitz' }); // auto's static rule at L 64
      recordTuning(store, { ...tuning('bench-7', s, 'chunked T=8', '2026-12-01T00:00:00.000Z') });
      expect(meta(untuned.prepare(model, 'c').bytes!)).toMatchObject({
        variant: 'chunked',
        variant_params: expect.stringContaining('"block":8'),
      });
      recordTuning(store, { ...tuning('bench-7', s, 'direct', '2026-12-02T00:00:00.000Z') });
      expect(meta(untuned.prepare(model, 'c').bytes!).variant).toBe('direct');
      expect(meta((await start('bench-8')).prepare(model, 'c').bytes!).variant).toBe('toeplitz');
      expect(meta((await start('bench-7', 'fft')).prepare(model, 'c').bytes!).variant).toBe('fft');
    } finally {
      model.dispose();
    }
  });

  it('holds a tuning to the kept state width it was measured at (states pruned: another shape)', async () => {
    const model = new SequenceModel(tinyConfig({ dModel: 8, dState: 16, nLayers: 2 }), 4);
    const meta = (bytes: Uint8Array) =>
      Object.fromEntries(decodeModel(bytes).metadataProps.map((p) => [p.key!, p.value!]));
    const full = tuneShape(model.config, 'conv', 64);
    // No pruned state: the config's shape, and the key of a record made before the width was part of it.
    expect(modelTuneShape(model, 'conv', 64)).toEqual(full);
    expect(shapeKey(full)).not.toContain('modes');
    recordTuning(store, { ...tuning('bench-9', full, 'direct', '2026-12-01T00:00:00.000Z') });
    const measurer = await AgentMeasurer.start({
      mode: 'conv',
      length: 64,
      server: { url: 'http://127.0.0.1:9', token: 't' },
      cacheDir: dir,
      tuning: { store, deviceClass: 'bench-9' },
    });
    try {
      expect(meta(measurer.prepare(model, 'c').bytes!).variant).toBe('direct');
      // Three of eight modes kept in layer 0, two in layer 1: width 3, a shape with no record → the static rule.
      const mask = (keep: number) => Uint8Array.from({ length: 8 * 8 }, (_, j) => (j % 8 < keep ? 1 : 0));
      model.setStateMask(0, mask(3));
      model.setStateMask(1, mask(2));
      expect(keptStateWidth(model)).toBe(3);
      const pruned = modelTuneShape(model, 'conv', 64);
      expect(pruned).toEqual({ ...full, modes: 3 });
      expect(meta(measurer.prepare(model, 'c').bytes!).variant).toBe('toeplitz');
      recordTuning(store, { ...tuning('bench-9', pruned, 'fft', '2026-12-02T00:00:00.000Z') });
      expect(meta(measurer.prepare(model, 'c').bytes!).variant).toBe('fft');
      // A layer that keeps every mode makes the width full again: the full shape's record.
      model.setStateMask(1, null);
      expect(keptStateWidth(model)).toBeUndefined();
      expect(meta(measurer.prepare(model, 'c').bytes!).variant).toBe('direct');
    } finally {
      model.dispose();
    }
  });
});
