import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../host/src/backend.js';
import { ssmConvForward } from '../../host/src/ssm/conv/conv.js';
import { ssmConv } from '../../host/src/ssm/conv/op.js';
import { s4dDiscretize, s4dStepRun } from '../../host/src/ssm/s4d/discrete.js';
import { s4dKernelForward } from '../../host/src/ssm/s4d/kernel.js';
import { s4dKernel } from '../../host/src/ssm/s4d/op.js';
import { initS4D, type S4DValues } from '../../host/src/ssm/s4d/params.js';
import { Rng } from '../../host/src/util/random.js';
import { relErr } from '../helpers/numeric.js';

describe('S4D conv mode vs step (recurrent) mode', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it.each([
    { L: 16, init: 'lin' as const },
    { L: 300, init: 'inv' as const },
    { L: 1024, init: 'lin' as const },
    { L: 1024, init: 'inv' as const },
  ])('agree within 1e-4 relative for L = $L ($init init), float64 core and tfjs ops', ({ L, init }) => {
    const H = 5;
    const N = 16;
    const B = 2;
    const p = initS4D(H, N, { init, seed: L, dtMin: 1e-3, dtMax: 1e-1 });
    const values: S4DValues = { H, M: N / 2, ...p };
    const rng = new Rng(L + 1);
    const u = Float32Array.from({ length: B * L * H }, () => rng.normal());
    const D = Float32Array.from({ length: H }, () => rng.normal());
    const active = Int32Array.from([0, 1, 3, 4]);

    const yStep = s4dStepRun(s4dDiscretize(values), u, { B, L }, D, active);
    for (let i = 2; i < u.length; i += H) expect(yStep[i]).toBe(u[i]); // channel 2 bypassed

    const yConv = new Float64Array(u.length);
    ssmConvForward(u, s4dKernelForward(values, L, active), D, active, { B, L, H }, yConv);
    expect(relErr(yConv, yStep)).toBeLessThan(1e-10);

    const params = {
      logDt: tf.tensor1d(p.logDt),
      logAReal: tf.tensor2d(p.logAReal, [H, N / 2]),
      aImag: tf.tensor2d(p.aImag, [H, N / 2]),
      cRe: tf.tensor2d(p.cRe, [H, N / 2]),
      cIm: tf.tensor2d(p.cIm, [H, N / 2]),
    };
    const yTf = tf.tidy(() => ssmConv(tf.tensor3d(u, [B, L, H]), s4dKernel(params, L, active), tf.tensor1d(D), active));
    expect(relErr(yTf.dataSync(), yStep)).toBeLessThan(1e-4);
    tf.dispose([yTf, ...Object.values(params)]);
  });

  it('refuses the step form for a bidirectional layer and names bad input', () => {
    const p = initS4D(2, 4, { bidirectional: true });
    expect(() => s4dDiscretize({ H: 2, M: 2, ...p })).toThrow('causal');
    const disc = s4dDiscretize({ H: 2, M: 2, ...initS4D(2, 4) });
    expect(() => s4dStepRun(disc, new Float64Array(7), { B: 1, L: 4 }, new Float64Array(2))).toThrow('u has 7 values');
    expect(() => s4dStepRun(disc, new Float64Array(8), { B: 1, L: 4 }, new Float64Array(3))).toThrow('D has 3 values');
  });
});
