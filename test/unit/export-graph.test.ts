/**
 * What an export contains: pruned operators' SSM weights and work gone (exactly in proportion to the
 * active operators), metadata, inputs/outputs, standard opset-20 ops only; the float64 building blocks
 * (step form, chunked decomposition) against independent references; and the errors for bad requests.
 */
import { PACKAGE_VERSION } from '@s4op/shared';
import type { onnx } from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { exportModel, type ExportResult } from '../../host/src/export/export.js';
import { freeStep, inputColumn, layerSsms, readout, type LayerSsm } from '../../host/src/export/layer-ssm.js';
import { decodeModel } from '../../host/src/export/onnx-builder.js';
import { blockMatrices, MAX_BLOCKS } from '../../host/src/export/variants/conv-chunked.js';
import {
  autoConvVariant,
  PREFIX_MAX_ROWS,
  PREFIX_MIN_LENGTH,
  SCAN_MAX_MODES,
  SCAN_MAX_MODES_SHORT,
  SHORT_LENGTH,
} from '../../host/src/export/variants/registry.js';
import type { ModelConfig } from '../../host/src/model/config.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const L = 48;
const MODES = [
  ['conv', 'fft'],
  ['conv', 'direct'],
  ['conv', 'chunked'],
  ['step', 'recurrent'],
] as const;

/** Keeps the first `keep` channels of every layer (spread out: every other channel first). */
function withActive(cfg: ModelConfig, keep: number): SequenceModel {
  const model = new SequenceModel(cfg, 5);
  const order = Array.from({ length: cfg.dModel }, (_, h) => h).sort((a, b) => (a % 2) - (b % 2) || a - b);
  for (let i = 0; i < cfg.nLayers; i++) model.setActive(i, order.slice(0, keep));
  return model;
}

function exportOf(model: SequenceModel, mode: 'conv' | 'step', variant: string): ExportResult {
  return exportModel(model, { mode, variant, length: mode === 'conv' ? L : undefined, variantOptions: { block: 16 } });
}

describe.each(['s4d', 's4'] as const)('%s: pruned operators are physically absent', (ssm) => {
  const cfg = tinyConfig({ ssm, dModel: 10, dState: 8, nLayers: 2 });
  const keeps = [10, 7, 3, 1];
  const models = keeps.map((k) => withActive(cfg, k));

  it.each(MODES)(
    '%s/%s: SSM initializer bytes and work scale with the active operators; the rest is unchanged',
    (mode, variant) => {
      const stats = models.map((m) => exportOf(m, mode, variant).stats);
      const perOperator = stats[0]!.ssmInitializerBytes / (keeps[0]! * cfg.nLayers);
      const perOperatorWork = stats[0]!.flops.ssm / (keeps[0]! * cfg.nLayers);
      stats.forEach((s, i) => {
        expect(s.activeOperators).toBe(keeps[i]! * cfg.nLayers);
        expect(s.ssmInitializerBytes).toBe(perOperator * s.activeOperators);
        expect(s.flops.ssm).toBeCloseTo(perOperatorWork * s.activeOperators, 6);
        if (i > 0) {
          expect(s.ssmInitializerBytes).toBeLessThan(stats[i - 1]!.ssmInitializerBytes);
          expect(s.initializerBytes).toBeLessThan(stats[i - 1]!.initializerBytes);
          expect(s.ssmNodes).toBeLessThanOrEqual(stats[i - 1]!.ssmNodes);
        }
      });
      // Bypassing costs two Gathers and a Concat per layer outside the SSM; the SSM's own nodes do not grow.
      expect(stats[1]!.ssmNodes).toBe(stats[0]!.ssmNodes);
    },
  );

  it('a layer with no active operator has no SSM nodes or weights at all', () => {
    const model = withActive(cfg, 4);
    model.setActive(1, []);
    for (const [mode, variant] of MODES) {
      const full = exportOf(model, mode, variant).stats;
      const model0 = withActive(cfg, 4);
      model0.setActive(0, []);
      model0.setActive(1, []);
      const none = exportOf(model0, mode, variant).stats;
      expect(none.ssmNodes).toBe(0);
      expect(none.ssmInitializerBytes).toBe(0);
      expect(none.flops.ssm).toBe(0);
      expect(full.ssmNodes).toBeGreaterThan(0);
    }
  });
});

describe('export metadata and interface', () => {
  it('records architecture, active operators, pruning rate, source, mode, variant, opset and producer', () => {
    const cfg = tinyConfig({ dModel: 8, nLayers: 2 });
    const model = withActive(cfg, 6);
    const r = exportModel(model, {
      mode: 'conv',
      variant: 'chunked',
      length: L,
      source: { weightsSha256: 'ab'.repeat(32), checkpoint: '/tmp/ckpt' },
    });
    const proto = decodeModel(r.bytes);
    const meta = Object.fromEntries(proto.metadataProps.map((p) => [p.key, p.value]));
    expect(meta).toEqual(r.metadata);
    expect(JSON.parse(meta.architecture!)).toEqual(model.config);
    expect(JSON.parse(meta.active_operators!)).toEqual(model.activeOperators());
    expect(Number(meta.pruning_rate)).toBeCloseTo(0.25, 12);
    expect(meta.source_sha256).toBe('ab'.repeat(32));
    expect(meta.source_checkpoint).toBe('/tmp/ckpt');
    expect(meta.mode).toBe('conv');
    expect(meta.variant).toBe('chunked');
    expect(meta.variant_requested).toBe('chunked');
    expect(meta.opset).toBe('20');
    expect(meta.producer_version).toBe(PACKAGE_VERSION);
    expect(meta.length).toBe(String(L));
    expect(JSON.parse(meta.variant_params!)).toEqual([
      { block: 24, blocks: 2 },
      { block: 24, blocks: 2 },
    ]);
    expect(proto.producerName).toBe('s4op');
    expect(proto.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 20]]);
  });

  it('conv mode: dynamic batch, fixed L; step mode: one step and named states', () => {
    const cfg = tinyConfig({ dModel: 8, dState: 6, nLayers: 2 });
    const model = withActive(cfg, 5);
    const dims = (v: onnx.IValueInfoProto) =>
      v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    const conv = decodeModel(exportModel(model, { mode: 'conv', length: 31 }).bytes).graph!;
    expect(conv.input!.map((v) => [v.name, dims(v)])).toEqual([['x', ['batch', 31, 2]]]);
    expect(conv.output!.map((v) => [v.name, dims(v)])).toEqual([['logits', ['batch', 3]]]);
    const stepR = exportModel(model, { mode: 'step', variant: 'recurrent' });
    const step = decodeModel(stepR.bytes).graph!;
    expect(step.input!.map((v) => [v.name, dims(v)])).toEqual([
      ['x', ['batch', 2]],
      ['state_0', ['batch', 5, 2, 3]],
      ['state_1', ['batch', 5, 2, 3]],
      ['pool_sum', ['batch', 8]],
      ['pool_count', ['batch', 1]],
    ]);
    expect(step.output!.map((v) => v.name).sort()).toEqual([
      'logits',
      'pool_count_next',
      'pool_sum_next',
      'state_0_next',
      'state_1_next',
    ]);
    expect(JSON.parse(stepR.metadata.step_states!)).toEqual(stepR.states);
    // A fixed batch size replaces the symbolic dimension everywhere.
    const fixed = decodeModel(exportModel(model, { mode: 'step', batch: 1 }).bytes).graph!;
    expect([...fixed.input!, ...fixed.output!].every((v) => dims(v)[0] === 1)).toBe(true);
    // auto: packed, two state tensors whatever the number of layers.
    const packed = exportModel(model, { mode: 'step' });
    expect(packed.variant).toBe('packed');
    expect(decodeModel(packed.bytes).graph!.input!.map((v) => [v.name, dims(v)])).toEqual([
      ['x', ['batch', 2]],
      ['ssm_state', ['batch', 10, 2, 4]],
      ['pool', ['batch', 9]],
    ]);
    expect(
      dims(decodeModel(exportModel(model, { mode: 'conv', length: 31, batch: 3 }).bytes).graph!.input![0]!),
    ).toEqual([3, 31, 2]);
  });

  it('cuts a long sequence into at most MAX_BLOCKS blocks by default (the scan stays short)', () => {
    const model = withActive(tinyConfig({ dModel: 2, dState: 4, nLayers: 1 }), 2);
    const params = (length: number) =>
      JSON.parse(exportModel(model, { mode: 'conv', variant: 'chunked', length }).metadata.variant_params!)[0];
    expect(params(784)).toEqual({ block: 28, blocks: 28 });
    expect(params(5000)).toEqual({ block: 40, blocks: 125 });
    expect(params(5000).blocks).toBeLessThanOrEqual(MAX_BLOCKS);
  });

  it('auto: prefix for S4D with at most PREFIX_MAX_ROWS active rows per layer (on average) from PREFIX_MIN_LENGTH on; toeplitz at short L within its row budget; else scan with few modes per channel; else chunked', () => {
    const long = PREFIX_MIN_LENGTH;
    // Between the short-sequence rules and prefix's.
    const mid = SHORT_LENGTH + 44;
    const variantOf = (cfg: ModelConfig, keep: number[], length = long) => {
      const model = new SequenceModel(cfg, 1);
      keep.forEach((k, i) =>
        model.setActive(
          i,
          Array.from({ length: k }, (_, h) => h),
        ),
      );
      const r = exportModel(model, { mode: 'conv', length });
      expect(r.metadata.variant_requested).toBe('auto');
      return r.variant;
    };
    const cfg = tinyConfig({ dModel: 32, dState: 16, nLayers: 2 });
    expect(variantOf(cfg, [32, 32])).toBe('chunked');
    expect(variantOf(cfg, [PREFIX_MAX_ROWS, PREFIX_MAX_ROWS])).toBe('prefix');
    expect(variantOf(cfg, [PREFIX_MAX_ROWS + 1, PREFIX_MAX_ROWS + 1])).toBe('chunked');
    // Shorter sequences: not prefix whatever the rows.
    expect(variantOf(cfg, [4, 4], PREFIX_MIN_LENGTH - 1)).toBe('chunked');
    // A layer with no active channel does not count; both directions do.
    expect(variantOf(cfg, [4, 0])).toBe('prefix');
    expect(variantOf(tinyConfig({ dModel: 32, dState: 16, nLayers: 2, bidirectional: true }), [12, 12])).toBe(
      'chunked',
    );
    expect(variantOf(tinyConfig({ ssm: 's4', dModel: 32, dState: 8, nLayers: 2 }), [4, 4])).toBe('chunked');
    // Few modes per channel: d_state 2·SCAN_MAX_MODES, or d_state 16 with states pruned to SCAN_MAX_MODES.
    const few = tinyConfig({ dModel: 32, dState: 2 * SCAN_MAX_MODES, nLayers: 2 });
    expect(variantOf(few, [32, 32], mid)).toBe('scan');
    expect(variantOf(few, [8, 8], mid)).toBe('scan');
    expect(variantOf(few, [8, 8])).toBe('prefix');
    expect(variantOf(tinyConfig({ ssm: 's4', dModel: 32, dState: 8, nLayers: 2 }), [32, 32], mid)).toBe('chunked');
    const pruned = (keep: number) => {
      const model = new SequenceModel(cfg, 1);
      const mask = new Uint8Array(32 * 8).map((_, j) => (j % 8 < keep ? 1 : 0));
      for (let i = 0; i < 2; i++) model.setStateMask(i, mask);
      return exportModel(model, { mode: 'conv', length: mid }).variant;
    };
    expect(pruned(SCAN_MAX_MODES)).toBe('scan');
    expect(pruned(SCAN_MAX_MODES + 1)).toBe('chunked');
    // Short sequences (the measured points of registry.ts, L 196): toeplitz while rows·(L − 28 − 4M) stays within
    // TOEPLITZ_ROW_BUDGET, then scan up to SCAN_MAX_MODES_SHORT modes, else chunked.
    const at196 = (rows: number, modes: number, kind: 's4d' | 's4' = 's4d') =>
      autoConvVariant(kind, [rows, rows, rows, rows], modes, 196);
    expect(at196(32, 16)).toBe('chunked');
    expect(at196(22, 16)).toBe('toeplitz');
    expect(at196(10, 16)).toBe('toeplitz');
    expect(at196(64, 32)).toBe('toeplitz');
    expect(at196(64, 26)).toBe('chunked');
    expect(at196(64, 13)).toBe('chunked');
    expect(at196(64, SCAN_MAX_MODES_SHORT)).toBe('scan');
    expect(at196(64, SCAN_MAX_MODES_SHORT, 's4')).toBe('chunked');
    expect(at196(8, 4, 's4')).toBe('toeplitz');
    expect(autoConvVariant('s4d', [64, 64], SCAN_MAX_MODES_SHORT, SHORT_LENGTH + 1)).toBe('chunked');
    // The budget scales with L: 4 rows of 16 modes take toeplitz at L 256, not 64 rows.
    expect(autoConvVariant('s4d', [4, 4], 16, SHORT_LENGTH)).toBe('toeplitz');
    expect(autoConvVariant('s4d', [64, 64], 16, SHORT_LENGTH)).toBe('chunked');
    // The rule's exports at a short L.
    expect(variantOf(few, [32, 32], 48)).toBe('toeplitz');
  });

  it('uses standard ONNX ops of the default domain only; each variant its own kind of convolution', () => {
    const model = withActive(tinyConfig({ dModel: 8 }), 4);
    const ops = (variant: string) =>
      decodeModel(exportOf(model, 'conv', variant).bytes).graph!.node!.map((n) => {
        expect(n.domain ?? '').toBe('');
        return n.opType!;
      });
    expect(ops('fft').filter((o) => o === 'DFT')).toHaveLength(4); // forward and inverse, two layers
    expect(ops('direct').filter((o) => o === 'Conv')).toHaveLength(2);
    const chunked = ops('chunked');
    expect(chunked).not.toContain('DFT');
    expect(chunked).not.toContain('Conv');
    const step = decodeModel(exportOf(model, 'step', 'recurrent').bytes).graph!.node!.map((n) => n.opType!);
    expect(new Set([...chunked, ...step])).not.toContain('Loop');
    expect(step).not.toContain('DFT');
  });
});

describe('float64 building blocks against independent references', () => {
  /** Impulse response of the exported step form: y[l] = C A^l B, by running the recurrence. */
  function impulse(ssm: LayerSsm, c: number, d: number, length: number): Float64Array {
    const st = ssm.steps[c]!;
    const C = readout(st, d);
    let s: Float64Array = inputColumn(st);
    let next: Float64Array = new Float64Array(s.length);
    const y = new Float64Array(length);
    for (let l = 0; l < length; l++) {
      y[l] = C.reduce((a, v, k) => a + v * s[k]!, 0);
      freeStep(st, s, next);
      [s, next] = [next, s];
    }
    return y;
  }

  it.each(['s4d', 's4'] as const)('%s: the step form (Ā, B̄, C) reproduces the kernel the model trains with', (ssm) => {
    const model = withActive(tinyConfig({ ssm, dModel: 6, dState: 8, dtMin: 0.01, dtMax: 0.2 }), 4);
    for (const layer of layerSsms(model)) {
      const K = layer.kernel(64);
      layer.active.forEach((_, c) => {
        const y = impulse(layer, c, 0, 64);
        const scale = Math.max(...Array.from(K.subarray(c * 64, (c + 1) * 64), Math.abs));
        for (let l = 0; l < 64; l++) expect(Math.abs(y[l]! - K[c * 64 + l]!)).toBeLessThan(1e-9 * scale);
      });
    }
  });

  it.each([false, true])(
    'chunked decomposition equals the direct convolution in float64 (bidirectional %s)',
    (bidirectional) => {
      const model = withActive(tinyConfig({ dModel: 5, dState: 6, bidirectional, dtMin: 0.01, dtMax: 0.3 }), 3);
      const layer = layerSsms(model)[0]!;
      const length = 37;
      const T = 8;
      const nb = Math.ceil(length / T);
      const S = 2 * layer.M;
      const Ha = layer.active.length;
      const K = layer.kernel(length);
      const m = blockMatrices(layer, T);
      const u = Float64Array.from({ length: Ha * length }, (_, i) => Math.cos(0.9 * i) + ((0.1 * i) % 3));
      for (let c = 0; c < Ha; c++) {
        const row = u.subarray(c * length, (c + 1) * length);
        // Reference: the convolution sum written out (backward kernel at lags −1, −2, …).
        const want = new Float64Array(length);
        for (let t = 0; t < length; t++) {
          let acc = layer.D[c]! * row[t]!;
          for (let l = 0; l <= t; l++) acc += K[c * length + l]! * row[t - l]!;
          if (bidirectional)
            for (let l = 0; t + 1 + l < length; l++) acc += K[(Ha + c) * length + l]! * row[t + 1 + l]!;
          want[t] = acc;
        }
        // The chunked algorithm on the matrices the exporter stores, per direction.
        const got = new Float64Array(length);
        for (let d = 0; d < layer.dirs; d++) {
          const r = d * Ha + c;
          const src = new Float64Array(nb * T);
          for (let t = 0; t < length; t++) src[t] = d === 0 ? row[t]! : row[length - 1 - t]!;
          let X = new Float64Array(S);
          for (let j = 0; j < nb; j++) {
            const V = new Float64Array(S);
            for (let t = 0; t < T; t++) {
              let y = 0;
              for (let s = 0; s < T; s++) y += src[j * T + s]! * m.toeplitz[(r * T + s) * T + t]!;
              for (let k = 0; k < S; k++) y += X[k]! * m.out[(r * S + k) * T + t]!;
              const pos = j * T + t;
              if (pos < length) got[d === 0 ? pos : length - 1 - pos]! += y;
            }
            for (let k = 0; k < S; k++)
              for (let s = 0; s < T; s++) V[k]! += src[j * T + s]! * m.inputToState[(r * T + s) * S + k]!;
            const Xn = new Float64Array(S);
            for (let k = 0; k < S; k++) {
              let acc = V[k]!;
              for (let q = 0; q < S; q++) acc += X[q]! * m.p[(r * S + q) * S + k]!;
              Xn[k] = acc;
            }
            X = Xn;
          }
        }
        const scale = Math.max(...Array.from(want, Math.abs));
        for (let t = 0; t < length; t++) expect(Math.abs(got[t]! - want[t]!)).toBeLessThan(1e-10 * scale);
      }
    },
  );
});

describe('export errors name the problem', () => {
  const model = new SequenceModel(tinyConfig(), 0);
  it.each([
    [
      { mode: 'conv', variant: 'winograd', length: 8 },
      /unknown conv variant "winograd"; known: chunked, prefix, scan, toeplitz, fft, direct, or auto/,
    ],
    [{ mode: 'step', variant: 'fft' }, /unknown step variant "fft"; known: packed, recurrent, or auto/],
    [{ mode: 'stream' }, /unknown export mode "stream"/],
    [{ mode: 'conv' }, /unsupported sequence length undefined/],
    [{ mode: 'conv', length: 0 }, /unsupported sequence length 0: conv mode needs an integer L in \[1, 65536\]/],
    [{ mode: 'conv', length: 2.5 }, /unsupported sequence length 2.5/],
    [{ mode: 'conv', length: 1e6 }, /unsupported sequence length 1000000/],
    [{ mode: 'conv', length: 8, bypass: 'teleport' }, /unknown bypass "teleport"/],
    [
      { mode: 'conv', length: 8, variant: 'chunked', variantOptions: { block: 0 } },
      /block must be a positive integer, got 0/,
    ],
    [{ mode: 'step', batch: 0 }, /batch must be a positive integer \(or left out for a dynamic batch\), got 0/],
  ])('%j', (opts, message) => {
    expect(() => exportModel(model, opts as never)).toThrow(message);
  });
});
