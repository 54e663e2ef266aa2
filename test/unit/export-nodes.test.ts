/**
 * Nodes per layer against the sequence length: for every conv variant in the registry (so that a new variant
 * is covered without touching this file) and step mode, S4D and S4, causal and bidirectional, unpruned and
 * pruned, the SSM part's node count per layer is the same at L = 196, 784, 4,096 and 16,384. A variant
 * flagged `legacy` (kept for comparison) is the exception, and this asserts that it is one: its count grows.
 * One flagged `logBlocks` grows with log₂ of its blocks: by at most its nodes per level times its levels, and
 * not past them (4,096 and 16,384 both reach the most levels). One with a `maxLength` keeps its count up to that
 * length and refuses longer sequences with a message naming the variants that take them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { exportModel } from '../../host/src/export/export.js';
import { CONV_VARIANTS, variantNames } from '../../host/src/export/variants/registry.js';
import type { ModelConfig } from '../../host/src/model/config.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const LENGTHS = [196, 784, 4096, 16384];
const ARCHS: [string, Partial<ModelConfig>][] = [
  ['S4D', { ssm: 's4d' }],
  ['S4', { ssm: 's4' }],
  ['bidirectional S4D', { ssm: 's4d', bidirectional: true }],
];

function model(over: Partial<ModelConfig>, keep: number): SequenceModel {
  const cfg = tinyConfig({ dModel: 4, dState: 8, nLayers: 2, ...over });
  const m = new SequenceModel(cfg, 1);
  for (let i = 0; i < cfg.nLayers; i++)
    m.setActive(
      i,
      Array.from({ length: keep }, (_, k) => k),
    );
  return m;
}

describe.each(ARCHS)('%s: SSM nodes per layer do not depend on L', (_name, over) => {
  const variants = [...CONV_VARIANTS.values()].filter((v) => !v.kinds || v.kinds.includes(over.ssm!));
  describe.each([4, 2])('%i of 4 operators active', (keep) => {
    const m = model(over, keep);
    it.each(variants.map((v) => [v.name, v] as const))('conv/%s', (_v, v) => {
      // A variant with a longest length: the same count from 196 up to it, and a clear refusal past it.
      const lengths = v.maxLength === undefined ? LENGTHS : [196, 255, v.maxLength];
      if (v.maxLength !== undefined) {
        expect(() => exportModel(m, { mode: 'conv', variant: v.name, length: v.maxLength! + 1 })).toThrow(
          new RegExp(
            `conv variant "${v.name}" exports sequences up to L = ${v.maxLength}, not ${v.maxLength + 1}; use chunked`,
          ),
        );
      }
      const perLayer = lengths.map(
        (length) => exportModel(m, { mode: 'conv', variant: v.name, length }).stats.ssmNodes / m.config.nLayers,
      );
      expect(perLayer[0]).toBeGreaterThan(0);
      if (v.legacy) {
        expect(perLayer[3]).toBeGreaterThan(perLayer[0]!);
      } else if (v.logBlocks) {
        const { nodesPerLevel, maxLevels } = v.logBlocks;
        for (let i = 1; i < LENGTHS.length; i++) expect(perLayer[i]).toBeGreaterThanOrEqual(perLayer[i - 1]!);
        expect(perLayer[3]! - perLayer[0]!).toBeLessThanOrEqual(nodesPerLevel * maxLevels);
        expect(perLayer[3]).toBe(perLayer[2]);
      } else {
        expect(perLayer, `${v.name}: ${perLayer.join(', ')}`).toEqual(lengths.map(() => perLayer[0]));
      }
    });
    it.runIf(!over.bidirectional)('step mode (no L): a fixed small number of nodes per layer, each variant', () => {
      for (const variant of variantNames('step')) {
        const r = exportModel(m, { mode: 'step', variant });
        // packed: the skip term rides in the state and the free evolution runs once for all layers.
        const bound = variant === 'packed' ? (over.ssm === 's4' ? 9 : 6) : over.ssm === 's4' ? 13 : 9;
        expect(r.stats.ssmNodes / m.config.nLayers, variant).toBeLessThanOrEqual(bound);
      }
    });
  });
});

it('the counts per layer (S4D, unpruned; recorded here so a change shows in review)', () => {
  const m = model({ ssm: 's4d' }, 4);
  const perLayer = Object.fromEntries(
    [...CONV_VARIANTS.keys()].map((v) => [
      v,
      exportModel(m, { mode: 'conv', variant: v, length: CONV_VARIANTS.get(v)!.maxLength ?? 784 }).stats.ssmNodes / 2,
    ]),
  );
  expect(perLayer).toMatchObject({ prefix: 33, scan: 37, toeplitz: 7, fft: 9, direct: 1 });
  // packed: 4 nodes of free evolution for both layers, then 4 per layer.
  expect(exportModel(m, { mode: 'step' }).stats.ssmNodes / 2).toBe(6);
  expect(exportModel(m, { mode: 'step', variant: 'recurrent' }).stats.ssmNodes / 2).toBe(9);
});
