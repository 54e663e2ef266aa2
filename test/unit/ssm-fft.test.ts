import { describe, expect, it } from 'vitest';
import { FFT, fftFor, nextPow2 } from '../../host/src/ssm/fft.js';

/** Independent O(n²) DFT in float64: X[k] = Σ_j x[j] e^{sign·2πijk/n}. */
function naiveDft(re: Float64Array, im: Float64Array, sign: number): [Float64Array, Float64Array] {
  const n = re.length;
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let j = 0; j < n; j++) {
      const a = (sign * 2 * Math.PI * ((j * k) % n)) / n;
      const c = Math.cos(a);
      const s = Math.sin(a);
      sr += re[j]! * c - im[j]! * s;
      si += re[j]! * s + im[j]! * c;
    }
    outRe[k] = sr;
    outIm[k] = si;
  }
  return [outRe, outIm];
}

function randomSignal(n: number, seed: number): [Float64Array, Float64Array] {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    re[i] = next();
    im[i] = next();
  }
  return [re, im];
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('FFT (power of two, float64)', () => {
  const sizes = [1, 2, 4, 8, 16, 64, 256, 1024];

  it.each(sizes)('forward matches a naive DFT for n = %i', (n) => {
    const [re, im] = randomSignal(n, n + 1);
    const [refRe, refIm] = naiveDft(re, im, -1);
    fftFor(n).forward(re, im);
    // O(n²) reference accumulates ~√n·n·ε of rounding; 1e-10·n is generous yet far below any bug.
    expect(maxAbsDiff(re, refRe)).toBeLessThan(1e-10 * n);
    expect(maxAbsDiff(im, refIm)).toBeLessThan(1e-10 * n);
  });

  it.each(sizes)('inverse matches a naive inverse DFT scaled by 1/n for n = %i', (n) => {
    const [re, im] = randomSignal(n, 7 * n + 3);
    const [refRe, refIm] = naiveDft(re, im, +1);
    fftFor(n).inverse(re, im);
    for (let i = 0; i < n; i++) {
      expect(Math.abs(re[i]! - refRe[i]! / n)).toBeLessThan(1e-12 * n);
      expect(Math.abs(im[i]! - refIm[i]! / n)).toBeLessThan(1e-12 * n);
    }
  });

  it.each([2, 8, 512, 4096])('inverse ∘ forward is the identity for n = %i (both orderings)', (n) => {
    const [re0, im0] = randomSignal(n, 3 * n);
    const fft = new FFT(n);
    const re = re0.slice();
    const im = im0.slice();
    fft.forward(re, im);
    fft.inverse(re, im);
    expect(maxAbsDiff(re, re0)).toBeLessThan(1e-13 * Math.log2(n) + 1e-15);
    expect(maxAbsDiff(im, im0)).toBeLessThan(1e-13 * Math.log2(n) + 1e-15);
    fft.forwardScrambled(re, im);
    fft.inverseScrambled(re, im);
    expect(maxAbsDiff(re, re0)).toBeLessThan(1e-13 * Math.log2(n) + 1e-15);
    expect(maxAbsDiff(im, im0)).toBeLessThan(1e-13 * Math.log2(n) + 1e-15);
  });

  it('scrambled forward is the natural spectrum in bit-reversed order', () => {
    const n = 128;
    const [re, im] = randomSignal(n, 99);
    const [refRe, refIm] = naiveDft(re, im, -1);
    const fft = fftFor(n);
    fft.forwardScrambled(re, im);
    for (let p = 0; p < n; p++) {
      expect(Math.abs(re[p]! - refRe[fft.rev[p]!]!)).toBeLessThan(1e-11);
      expect(Math.abs(im[p]! - refIm[fft.rev[p]!]!)).toBeLessThan(1e-11);
    }
  });

  it.each([4, 8, 16, 32, 64, 2048])('padded forward and head inverse match the full transforms for n = %i', (n) => {
    const fft = fftFor(n);
    for (const len of [1, n / 4 - 1, n / 2 - 3, n / 2].filter((v) => v >= 1)) {
      const [re0, im0] = randomSignal(n, n + len);
      re0.fill(0, len);
      im0.fill(0, len);
      const re = re0.slice();
      const im = im0.slice();
      fft.forwardScrambled(re0, im0);
      // Garbage past len must be ignored.
      re.fill(1e300, len);
      im.fill(-1e300, len);
      fft.forwardScrambledPadded(re, im, len);
      expect(maxAbsDiff(re, re0)).toBeLessThan(1e-12 * n);
      expect(maxAbsDiff(im, im0)).toBeLessThan(1e-12 * n);
      fft.inverseScrambledHead(re, im);
      fft.inverseScrambled(re0, im0);
      for (let i = 0; i < n / 2; i++) {
        expect(Math.abs(re[i]! / n - re0[i]!)).toBeLessThan(1e-13 * n);
        expect(Math.abs(im[i]! / n - im0[i]!)).toBeLessThan(1e-13 * n);
      }
    }
  });

  it('caches one instance per size', () => {
    expect(fftFor(64)).toBe(fftFor(64));
    expect(fftFor(64).n).toBe(64);
  });

  it('rejects sizes that are not powers of two and arrays of the wrong length', () => {
    expect(() => new FFT(12)).toThrow('power of two');
    expect(() => new FFT(0)).toThrow('power of two');
    expect(() => new FFT(2.5)).toThrow('power of two');
    expect(() => fftFor(8).forward(new Float64Array(8), new Float64Array(4))).toThrow('length');
  });

  it('nextPow2', () => {
    expect([0, 1, 2, 3, 5, 784, 1024, 1025].map(nextPow2)).toEqual([1, 1, 2, 4, 8, 1024, 1024, 2048]);
    expect(() => nextPow2(-1)).toThrow('non-negative');
  });
});
