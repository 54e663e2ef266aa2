/**
 * FFT variant: real DFT of the zero-padded input (opset 20 `DFT`, onesided), a pointwise product with the
 * precomputed kernel spectrum, and the onesided inverse DFT. The FFT size is a power of two (onnxruntime's
 * DFT is fast only there): ≥ 2L − 1 for a causal layer, ≥ 2L with the backward kernel, which sits at the end
 * of the circular kernel (k'[n−1−l] = k_b[l]) so that it acts at lags −1, −2, … .
 */
import { fftFor, nextPow2 } from '../../ssm/fft.js';
import type { GraphBuilder } from '../onnx-builder.js';
import type { LayerSsm } from '../layer-ssm.js';
import type { ConvVariant } from './variant.js';

export function fftSize(ssm: Pick<LayerSsm, 'dirs'>, L: number): number {
  // At least 2, so that the onesided spectrum (n/2 + 1 bins) is whole.
  return Math.max(2, nextPow2(ssm.dirs === 2 ? 2 * L : 2 * L - 1));
}

export const convFft: ConvVariant = {
  mode: 'conv',
  name: 'fft',
  summary: 'DFT (onesided, power-of-two length) × kernel spectrum → inverse DFT',
  describe: (ssm, L) => ({ fft_size: fftSize(ssm, L) }),
  build(b: GraphBuilder, u: string, ssm: LayerSsm, L: number): string {
    const Ha = ssm.active.length;
    const n = fftSize(ssm, L);
    const F = n / 2 + 1;
    const k = ssm.kernel(L);
    const fft = fftFor(n);
    // The complex product X·K on [.., F, 2] (re, im) is X⊙[Re K, Re K] + swap(X)⊙[−Im K, Im K]: both Muls
    // broadcast over whole rows (a [.., 2, 2] block per frequency would broadcast in spans of 2 and crawl).
    const k1 = new Float64Array(Ha * F * 2);
    const k2 = new Float64Array(Ha * F * 2);
    const re = new Float64Array(n);
    const im = new Float64Array(n);
    for (let r = 0; r < Ha; r++) {
      re.fill(0);
      im.fill(0);
      for (let l = 0; l < L; l++) re[l] = k[r * L + l]!;
      re[0]! += ssm.D[r]!;
      if (ssm.dirs === 2) for (let l = 0; l < L; l++) re[n - 1 - l]! += k[(Ha + r) * L + l]!;
      fft.forward(re, im);
      for (let f = 0; f < F; f++) {
        const o = (r * F + f) * 2;
        k1[o] = re[f]!;
        k1[o + 1] = re[f]!;
        k2[o] = -im[f]!;
        k2[o + 1] = im[f]!;
      }
    }

    const len = b.constI64([n], []);
    const axis = b.constI64([2], []);
    const u4 = b.op('Unsqueeze', [u, b.constI64([3])]);
    const X = b.op('DFT', [u4, len, axis], { onesided: 1 });
    const swapped = b.op('Gather', [X, b.constI64([1, 0])], { axis: 3 });
    const Y = b.op('Add', [
      b.op('Mul', [X, b.initF32('fft_kernel_re', k1, [Ha, F, 2])]),
      b.op('Mul', [swapped, b.initF32('fft_kernel_im', k2, [Ha, F, 2])]),
    ]);
    const y = b.op('DFT', [Y, len, axis], { onesided: 1, inverse: 1 });
    const head = b.op('Slice', [y, b.constI64([0]), b.constI64([L]), b.constI64([2])]);
    // Real FFT ≈ 2.5·n·log2(n) flops each way; the product is 6 flops per frequency.
    b.work(Ha * (5 * n * Math.log2(n) + 6 * F));
    return b.op('Squeeze', [head, b.constI64([3])]);
  },
};
