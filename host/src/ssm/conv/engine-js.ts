/**
 * The portable JS engine of the long convolution (see conv.ts for the algorithm and the backward
 * formulas): float64 typed-array loops over the radix-2² FFT of fft.ts. Used where the wasm engine
 * is unavailable or the FFT is tiny, and as the reference the wasm engine is tested against.
 */
import { circularKernel, type ConvEngine, type Spectra } from './engine.js';
import { fromChannelRows, toChannelRows } from './layout.js';
import { fftFor } from '../fft.js';

/** Grow-only scratch buffers, reused across calls (JS runs one call at a time). */
const scratch: { a: Float64Array; b: Float64Array } = { a: new Float64Array(0), b: new Float64Array(0) };
function scratchBuffers(size: number): [Float64Array, Float64Array] {
  if (scratch.a.length < size) {
    scratch.a = new Float64Array(size);
    scratch.b = new Float64Array(size);
  }
  return [scratch.a.subarray(0, size), scratch.b.subarray(0, size)];
}

export const jsEngine: ConvEngine = {
  name: 'js',

  forward(saved, k, y) {
    const { n, dirs } = saved;
    const { B, L } = saved.dims;
    const A = saved.active.length;
    const fft = fftFor(n);
    const pairs = (B + 1) >> 1;
    const [rows, out] = scratchBuffers(A * B * L);
    toChannelRows(saved.u, rows, saved.active, saved.dims);
    const re = new Float64Array(n);
    const im = new Float64Array(n);
    const invN = 1 / n;
    // Without saving (inference), spectra go to throw-away buffers of one channel / one pair.
    const keep = saved.kRe.length > 0;
    const tmp = keep
      ? null
      : { kRe: new Float64Array(n), kIm: new Float64Array(n), uRe: new Float64Array(n), uIm: new Float64Array(n) };
    for (let r = 0; r < A; r++) {
      const kRe = tmp ? tmp.kRe : saved.kRe.subarray(r * n, (r + 1) * n);
      const kIm = tmp ? tmp.kIm : saved.kIm.subarray(r * n, (r + 1) * n);
      circularKernel(k, r, A, L, dirs, kRe, kIm);
      if (dirs === 1) fft.forwardScrambledPadded(kRe, kIm, L);
      else fft.forwardScrambled(kRe, kIm);
      for (let f = 0; f < n; f++) {
        kRe[f]! *= invN;
        kIm[f]! *= invN;
      }
      for (let q = 0; q < pairs; q++) {
        const row0 = (r * B + 2 * q) * L;
        const hasSecond = 2 * q + 1 < B;
        re.set(rows.subarray(row0, row0 + L));
        if (hasSecond) im.set(rows.subarray(row0 + L, row0 + 2 * L));
        else im.fill(0, 0, L);
        fft.forwardScrambledPadded(re, im, L);
        if (tmp) saveAndMultiply(re, im, kRe, kIm, tmp.uRe, tmp.uIm, 0, n);
        else saveAndMultiply(re, im, kRe, kIm, saved.uRe, saved.uIm, (r * pairs + q) * n, n);
        fft.inverseScrambledHead(re, im);
        out.set(re.subarray(0, L), row0);
        if (hasSecond) out.set(im.subarray(0, L), row0 + L);
      }
    }
    fromChannelRows(out, saved.u, saved.d, y, saved.active, saved.dims);
  },

  backward(saved, dy, duOut, dk, dd) {
    const { n, dirs } = saved;
    const { B, L } = saved.dims;
    const A = saved.active.length;
    const fft = fftFor(n);
    const pairs = (B + 1) >> 1;
    const [rows, out] = scratchBuffers(A * B * L);
    toChannelRows(dy, rows, saved.active, saved.dims, saved.u, dd);
    const re = new Float64Array(n);
    const im = new Float64Array(n);
    const accRe = new Float64Array(n);
    const accIm = new Float64Array(n);
    const invN = 1 / n;
    for (let r = 0; r < A; r++) {
      const kRe = saved.kRe.subarray(r * n, (r + 1) * n);
      const kIm = saved.kIm.subarray(r * n, (r + 1) * n);
      accRe.fill(0);
      accIm.fill(0);
      for (let q = 0; q < pairs; q++) {
        const row0 = (r * B + 2 * q) * L;
        const hasSecond = 2 * q + 1 < B;
        re.set(rows.subarray(row0, row0 + L));
        if (hasSecond) im.set(rows.subarray(row0 + L, row0 + 2 * L));
        else im.fill(0, 0, L);
        fft.forwardScrambledPadded(re, im, L);
        accumulateAndMultiply(re, im, saved.uRe, saved.uIm, (r * pairs + q) * n, accRe, accIm, kRe, kIm, n);
        fft.inverseScrambledHead(re, im);
        out.set(re.subarray(0, L), row0);
        if (hasSecond) out.set(im.subarray(0, L), row0 + L);
      }
      if (dirs === 1) {
        fft.inverseScrambledHead(accRe, accIm);
        for (let l = 0; l < L; l++) dk[r * L + l] = accRe[l]! * invN;
      } else {
        fft.inverseScrambled(accRe, accIm);
        for (let l = 0; l < L; l++) {
          dk[r * L + l] = accRe[l]!;
          dk[(A + r) * L + l] = accRe[n - 1 - l]!;
        }
      }
    }
    fromChannelRows(out, dy, saved.d, duOut, saved.active, saved.dims);
  },
};

/** Saves the spectrum (re, im) at `off`, then (re, im) ← (re, im)·K. */
function saveAndMultiply(
  re: Float64Array,
  im: Float64Array,
  kRe: Float64Array,
  kIm: Float64Array,
  sRe: Spectra,
  sIm: Spectra,
  off: number,
  n: number,
): void {
  for (let f = 0; f < n; f++) {
    const ar = re[f]!;
    const ai = im[f]!;
    sRe[off + f] = ar;
    sIm[off + f] = ai;
    const br = kRe[f]!;
    const bi = kIm[f]!;
    re[f] = ar * br - ai * bi;
    im[f] = ar * bi + ai * br;
  }
}

/** acc += (re, im)·conj(saved U at off), then (re, im) ← (re, im)·conj(K). */
function accumulateAndMultiply(
  re: Float64Array,
  im: Float64Array,
  sRe: Spectra,
  sIm: Spectra,
  off: number,
  accRe: Float64Array,
  accIm: Float64Array,
  kRe: Float64Array,
  kIm: Float64Array,
  n: number,
): void {
  for (let f = 0; f < n; f++) {
    const ar = re[f]!;
    const ai = im[f]!;
    const ur = sRe[off + f]!;
    const ui = sIm[off + f]!;
    accRe[f]! += ar * ur + ai * ui;
    accIm[f]! += ai * ur - ar * ui;
    const br = kRe[f]!;
    const bi = kIm[f]!;
    re[f] = ar * br + ai * bi;
    im[f] = ai * br - ar * bi;
  }
}
