/**
 * What the exporter needs of each layer's SSM: the layers as read through their kinds
 * (model/ssm-layer.ts, model/kinds/), and the real form of the step shared by every kind:
 *
 *   x' = E∘x + w·Re(qᵀx) + b̄·u,    y = 2·Re(cᵀx') + D·u
 *
 * on s = [Re x; Im x] (2M entries), which the chunked convolution uses.
 */
import type { ChannelStep } from '../model/kinds/kind.js';

export { keptStateWidth, layerSsms, type LayerSsm } from '../model/ssm-layer.js';

/**
 * Real form of a channel's free dynamics s ← A·s on s = [Re x; Im x]: applies one step (u = 0) to `s`,
 * writing `out` (no aliasing). Half-complex: x' = E∘x + w·Re(qᵀx).
 */
export function freeStep(st: ChannelStep, s: Float64Array, out: Float64Array): void {
  const M = st.eRe.length;
  let rho = 0;
  if (st.lowRank) for (let m = 0; m < M; m++) rho += st.lowRank.qRe[m]! * s[m]! - st.lowRank.qIm[m]! * s[M + m]!;
  for (let m = 0; m < M; m++) {
    const xr = s[m]!,
      xi = s[M + m]!;
    out[m] = st.eRe[m]! * xr - st.eIm[m]! * xi;
    out[M + m] = st.eRe[m]! * xi + st.eIm[m]! * xr;
    if (st.lowRank) {
      out[m]! += st.lowRank.wRe[m]! * rho;
      out[M + m]! += st.lowRank.wIm[m]! * rho;
    }
  }
}

/** Real read-out row of direction `d`: y = C·s with C = [2·Re c; −2·Im c]. */
export function readout(st: ChannelStep, d: number): Float64Array {
  const M = st.eRe.length;
  const C = new Float64Array(2 * M);
  for (let m = 0; m < M; m++) {
    C[m] = 2 * st.cRe[d]![m]!;
    C[M + m] = -2 * st.cIm[d]![m]!;
  }
  return C;
}

/** Real input column B = [Re b̄; Im b̄]. */
export function inputColumn(st: ChannelStep): Float64Array {
  const M = st.eRe.length;
  const B = new Float64Array(2 * M);
  B.set(st.bRe, 0);
  B.set(st.bIm, M);
  return B;
}
