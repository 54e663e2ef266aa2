/**
 * Power-of-two complex FFT on Float64Array (split real/imaginary arrays), in place.
 *
 * Forward is unscaled, X[k] = Σ_j x[j]·e^{−2πijk/n}; inverse is scaled by 1/n.
 * Two orderings are offered:
 *  - `forward` / `inverse`: natural order in and out (a bit-reversal permutation is applied);
 *  - `forwardScrambled` / `inverseScrambled`: decimation-in-frequency forward leaves the spectrum in
 *    bit-reversed order, and the decimation-in-time inverse reads it back in that order. A pointwise
 *    product of spectra does not care about order, so convolution skips both permutations.
 * Twiddles are precomputed once per n (one table for every stage: entry h + j holds e^{−2πij/(2h)}).
 */

/** Smallest power of two ≥ n (n ≥ 1). */
export function nextPow2(n: number): number {
  if (!Number.isFinite(n) || n < 0) throw new Error(`nextPow2: expected a non-negative finite number, got ${n}`);
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

export class FFT {
  readonly n: number;
  /** twRe[h + j] + i·twIm[h + j] = e^{−2πij/(2h)} for h = 1, 2, 4, …, n/2 and 0 ≤ j < h. */
  private readonly twRe: Float64Array;
  private readonly twIm: Float64Array;
  /** Bit reversal of log2(n) bits. */
  readonly rev: Uint32Array;

  constructor(n: number) {
    if (!isPow2(n)) throw new Error(`FFT size must be a power of two (1 … 2^30), got ${n}`);
    this.n = n;
    this.twRe = new Float64Array(Math.max(n, 1));
    this.twIm = new Float64Array(Math.max(n, 1));
    for (let h = 1; h < n; h <<= 1) {
      for (let j = 0; j < h; j++) {
        const angle = (-Math.PI * j) / h;
        this.twRe[h + j] = Math.cos(angle);
        this.twIm[h + j] = Math.sin(angle);
      }
    }
    const bits = Math.round(Math.log2(n));
    this.rev = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0, x = i; b < bits; b++, x >>= 1) r = (r << 1) | (x & 1);
      this.rev[i] = r;
    }
  }

  /** Natural order in and out; unscaled. */
  forward(re: Float64Array, im: Float64Array): void {
    this.check(re, im);
    this.forwardScrambled(re, im);
    this.permute(re, im);
  }

  /** Natural order in and out; scaled by 1/n. */
  inverse(re: Float64Array, im: Float64Array): void {
    this.check(re, im);
    this.permute(re, im);
    this.inverseScrambled(re, im);
  }

  /** Decimation in frequency: natural-order input, bit-reversed-order spectrum out (unscaled). */
  forwardScrambled(re: Float64Array, im: Float64Array): void {
    const n = this.n;
    const twRe = this.twRe;
    const twIm = this.twIm;
    let half = n >> 1;
    // Radix-2 stages down to blocks of 4, then the twiddle-free last two stages fused.
    for (; half >= 4; half >>= 1) {
      const size = half << 1;
      for (let s = 0; s < n; s += size) {
        for (let j = 0; j < half; j++) {
          const p = s + j;
          const q = p + half;
          const ar = re[p]!;
          const ai = im[p]!;
          const br = re[q]!;
          const bi = im[q]!;
          re[p] = ar + br;
          im[p] = ai + bi;
          const dr = ar - br;
          const di = ai - bi;
          const wr = twRe[half + j]!;
          const wi = twIm[half + j]!;
          re[q] = dr * wr - di * wi;
          im[q] = dr * wi + di * wr;
        }
      }
    }
    if (n >= 4) {
      // Stage half = 2 (twiddles 1, −i) and stage half = 1 (twiddle 1) on each block of 4.
      for (let s = 0; s < n; s += 4) {
        const x0r = re[s]!, x0i = im[s]!, x1r = re[s + 1]!, x1i = im[s + 1]!;
        const x2r = re[s + 2]!, x2i = im[s + 2]!, x3r = re[s + 3]!, x3i = im[s + 3]!;
        const a0r = x0r + x2r, a0i = x0i + x2i, a1r = x1r + x3r, a1i = x1i + x3i;
        const b0r = x0r - x2r, b0i = x0i - x2i;
        // (x1 − x3)·(−i)
        const b1r = x1i - x3i, b1i = x3r - x1r;
        re[s] = a0r + a1r;
        im[s] = a0i + a1i;
        re[s + 1] = a0r - a1r;
        im[s + 1] = a0i - a1i;
        re[s + 2] = b0r + b1r;
        im[s + 2] = b0i + b1i;
        re[s + 3] = b0r - b1r;
        im[s + 3] = b0i - b1i;
      }
    } else if (n === 2) {
      const ar = re[0]!, ai = im[0]!, br = re[1]!, bi = im[1]!;
      re[0] = ar + br;
      im[0] = ai + bi;
      re[1] = ar - br;
      im[1] = ai - bi;
    }
  }

  /** Decimation in time: bit-reversed-order spectrum in, natural-order signal out, scaled by 1/n. */
  inverseScrambled(re: Float64Array, im: Float64Array): void {
    const n = this.n;
    const twRe = this.twRe;
    const twIm = this.twIm;
    if (n >= 4) {
      // Stages half = 1 (twiddle 1) and half = 2 (twiddles 1, +i) fused on each block of 4.
      for (let s = 0; s < n; s += 4) {
        const x0r = re[s]!, x0i = im[s]!, x1r = re[s + 1]!, x1i = im[s + 1]!;
        const x2r = re[s + 2]!, x2i = im[s + 2]!, x3r = re[s + 3]!, x3i = im[s + 3]!;
        const a0r = x0r + x1r, a0i = x0i + x1i, a1r = x0r - x1r, a1i = x0i - x1i;
        const c0r = x2r + x3r, c0i = x2i + x3i;
        // (x2 − x3)·(+i)
        const c1r = x3i - x2i, c1i = x2r - x3r;
        re[s] = a0r + c0r;
        im[s] = a0i + c0i;
        re[s + 2] = a0r - c0r;
        im[s + 2] = a0i - c0i;
        re[s + 1] = a1r + c1r;
        im[s + 1] = a1i + c1i;
        re[s + 3] = a1r - c1r;
        im[s + 3] = a1i - c1i;
      }
    } else if (n === 2) {
      const ar = re[0]!, ai = im[0]!, br = re[1]!, bi = im[1]!;
      re[0] = ar + br;
      im[0] = ai + bi;
      re[1] = ar - br;
      im[1] = ai - bi;
    }
    for (let half = 4; half < n; half <<= 1) {
      const size = half << 1;
      for (let s = 0; s < n; s += size) {
        for (let j = 0; j < half; j++) {
          const p = s + j;
          const q = p + half;
          // Conjugate twiddle e^{+2πij/size}.
          const wr = twRe[half + j]!;
          const wi = -twIm[half + j]!;
          const xr = re[q]!;
          const xi = im[q]!;
          const br = xr * wr - xi * wi;
          const bi = xr * wi + xi * wr;
          const ar = re[p]!;
          const ai = im[p]!;
          re[p] = ar + br;
          im[p] = ai + bi;
          re[q] = ar - br;
          im[q] = ai - bi;
        }
      }
    }
    const scale = 1 / n;
    for (let i = 0; i < n; i++) {
      re[i]! *= scale;
      im[i]! *= scale;
    }
  }

  private permute(re: Float64Array, im: Float64Array): void {
    const rev = this.rev;
    for (let i = 0; i < this.n; i++) {
      const r = rev[i]!;
      if (i < r) {
        const tr = re[i]!;
        re[i] = re[r]!;
        re[r] = tr;
        const ti = im[i]!;
        im[i] = im[r]!;
        im[r] = ti;
      }
    }
  }

  private check(re: Float64Array, im: Float64Array): void {
    if (re.length !== this.n || im.length !== this.n) {
      throw new Error(`FFT of size ${this.n} got arrays of length ${re.length} (re) and ${im.length} (im)`);
    }
  }
}

const cache = new Map<number, FFT>();

/** The cached FFT instance for size n (twiddles are computed once per n). */
export function fftFor(n: number): FFT {
  let fft = cache.get(n);
  if (!fft) {
    fft = new FFT(n);
    cache.set(n, fft);
  }
  return fft;
}
