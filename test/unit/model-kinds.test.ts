/**
 * The SSM kind registry (host/src/model/kinds/): every registered kind round-trips between its names map
 * and the model's parameters, and an unknown kind is a clear error. The cases come from the registry, so
 * a new kind is tested here without editing this file.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../host/src/backend.js';
import { validateConfig } from '../../host/src/model/config.js';
import { SSM_KINDS, SSM_KIND_NAMES, ssmKind } from '../../host/src/model/kinds/registry.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { ParamStore } from '../../host/src/model/params.js';
import { createSsm, layerSsms } from '../../host/src/model/ssm-layer.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const cases = SSM_KIND_NAMES.flatMap(
  (name) =>
    (SSM_KINDS[name].bidirectional
      ? [
          [name, false],
          [name, true],
        ]
      : [[name, false]]) as [typeof name, boolean][],
);

describe('SSM kind registry', () => {
  it('has at least the two kinds of the paper; each is named by its key and its parameter names are distinct', () => {
    expect(SSM_KIND_NAMES).toEqual(expect.arrayContaining(['s4d', 's4']));
    for (const name of SSM_KIND_NAMES) {
      const kind = ssmKind(name);
      expect(kind.name).toBe(name);
      const names = Object.values(kind.paramNames);
      expect(names.length).toBeGreaterThan(0);
      expect(new Set(names).size).toBe(names.length);
    }
  });

  describe.each(cases)('%s (bidirectional %s)', (name, bidirectional) => {
    const kind = ssmKind(name);
    const config = tinyConfig({ ssm: name, bidirectional, dModel: 5, dState: 6, dtMin: 0.01, dtMax: 0.2 });

    it('names map → params: the layer adds exactly the parameters its names map lists, all owned by channels', () => {
      const params = new ParamStore();
      try {
        const ssm = createSsm(params, 'k', config, 3);
        const snap = params.snapshot();
        expect([...snap.keys()].sort()).toEqual(
          Object.values(kind.paramNames)
            .map((n) => `k.${n}`)
            .sort(),
        );
        const total = [...snap.values()].reduce((a, t) => a + t.values.length, 0);
        expect(total).toBe(config.dModel * ssm.paramsPerChannel);
      } finally {
        params.dispose();
      }
    });

    it('params → names map: values read back by field give the kernel the model trains with', () => {
      const model = new SequenceModel(config, 1);
      try {
        const active = [0, 2, 3];
        model.setActive(0, active);
        const L = 24;
        const want = model.layerKernel(0, L).dataSync();
        const snap = model.params.snapshot();
        const value = (field: string) => {
          const t = snap.get(`s4_layers.0.kernel.${kind.paramNames[field]}`);
          if (!t) throw new Error(`no parameter for field ${field}`);
          return t.values;
        };
        const read = kind.read(
          value,
          { H: config.dModel, M: config.dState / 2 },
          Int32Array.from(active),
          bidirectional,
        );
        const got = read.kernel(L);
        expect(read.dirs).toBe(bidirectional ? 2 : 1);
        expect(got.length).toBe(want.length);
        const scale = Math.max(...Array.from(got, Math.abs));
        for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 * scale);
        expect(read.steps).toHaveLength(active.length);
        // layerSsms reads the same parameters through the same map.
        const layer = layerSsms(model)[0]!;
        expect(layer.kind).toBe(name);
        expect(Array.from(layer.kernel(L))).toEqual(Array.from(got));
      } finally {
        model.dispose();
      }
    });
  });

  it('an unknown kind is a clear error that lists the known ones', () => {
    expect(() => ssmKind('s5')).toThrow(`unknown SSM kind "s5"; known: ${SSM_KIND_NAMES.join(', ')}`);
    expect(() => validateConfig(tinyConfig({ ssm: 's5' as never }))).toThrow(
      /model config: ssm must be "s4d"(, "\w+")* or "\w+", got "s5"/,
    );
    expect(() => new SequenceModel(tinyConfig({ ssm: 'constructor' as never }))).toThrow('got "constructor"');
  });

  it('a kind without a bidirectional form refuses a bidirectional layer', () => {
    const causal = SSM_KIND_NAMES.filter((n) => !SSM_KINDS[n].bidirectional);
    expect(causal.length).toBeGreaterThan(0);
    for (const name of causal) {
      expect(() => new SequenceModel(tinyConfig({ ssm: name, bidirectional: true }))).toThrow(
        /bidirectional is supported for .+ only/,
      );
    }
  });
});
