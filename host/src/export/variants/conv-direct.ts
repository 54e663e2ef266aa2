/**
 * Direct variant: one depthwise `Conv` (group = active channels) with the full-length kernel, flipped,
 * padded on the left for causality; with the backward kernel the taps extend L past the present (lags
 * −1 … −L). D is folded into the tap of lag 0.
 */
import type { GraphBuilder } from '../onnx-builder.js';
import type { LayerSsm } from '../layer-ssm.js';
import type { ConvVariant } from './variant.js';

export const convDirect: ConvVariant = {
  mode: 'conv',
  name: 'direct',
  summary: 'depthwise Conv with the full-length kernel (O(L²) per channel)',
  describe: (ssm, L) => ({ taps: ssm.dirs * L }),
  build(b: GraphBuilder, u: string, ssm: LayerSsm, L: number): string {
    const Ha = ssm.active.length;
    const taps = ssm.dirs * L;
    const k = ssm.kernel(L);
    // Conv is a correlation: y[t] = Σ_j w[j]·u[t + j − (L−1)], so lag l ≥ 0 sits at j = L−1−l and the
    // future offset 1+l at j = L+l.
    const w = new Float64Array(Ha * taps);
    for (let r = 0; r < Ha; r++) {
      for (let l = 0; l < L; l++) w[r * taps + L - 1 - l] = k[r * L + l]!;
      w[r * taps + L - 1]! += ssm.D[r]!;
      if (ssm.dirs === 2) for (let l = 0; l < L; l++) w[r * taps + L + l] = k[(Ha + r) * L + l]!;
    }
    const W = b.initF32('conv_kernel', w, [Ha, 1, taps]);
    b.work(Ha * 2 * L * taps);
    return b.op('Conv', [u, W], { group: Ha, kernel_shape: [taps], pads: [L - 1, taps - L] });
  },
};
