/**
 * Power-of-two complex FFT on Float64Array (split real/imaginary arrays), in place.
 *
 * Forward is unscaled, X[k] = Σ_j x[j]·e^{−2πijk/n}; inverse is scaled by 1/n.
 * Two orderings are offered:
 *  - `forward` / `inverse`: natural order in and out (a bit-reversal permutation is applied);
 *  - `forwardScrambled` / `inverseScrambled`: decimation-in-frequency forward leaves the spectrum in
 *    bit-reversed order, and the decimation-in-time inverse reads it back in that order. A pointwise
 *    product of spectra does not care about order, so convolution skips both permutations.
 * Stages run two at a time (radix-2²: 3 twiddle products per 4 points instead of 4, half the passes over
 * memory) and keep the radix-2 bit-reversed order; an odd log2(n) adds one radix-2 stage.
 * For zero-padded convolution, `forwardScrambledPadded` skips the known-zero upper half of the input and
 * `inverseScrambledHead` computes only the first n/2 outputs, unscaled.
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
  /** Bit reversal of log2(n) bits: natural index of the value at scrambled position p is rev[p]. */
  readonly rev: Uint32Array;
  /** twRe[h + j] + i·twIm[h + j] = e^{−2πij/(2h)} for h = 1, 2, 4, …, n/2 and 0 ≤ j < h. */
  private readonly twRe: Float64Array;
  private readonly twIm: Float64Array;
  /** tw3Re[q + j] + i·tw3Im[q + j] = e^{−2πi·3j/(4q)} for q = 1, 2, …, n/4 and 0 ≤ j < q. */
  private readonly tw3Re: Float64Array;
  private readonly tw3Im: Float64Array;
  /** log2(n) is odd: one radix-2 stage besides the radix-2² passes. */
  private readonly odd: boolean;

  constructor(n: number) {
    if (!isPow2(n)) throw new Error(`FFT size must be a power of two (1 … 2^30), got ${n}`);
    this.n = n;
    this.twRe = new Float64Array(n);
    this.twIm = new Float64Array(n);
    for (let h = 1; h < n; h <<= 1) {
      for (let j = 0; j < h; j++) {
        const angle = (-Math.PI * j) / h;
        this.twRe[h + j] = Math.cos(angle);
        this.twIm[h + j] = Math.sin(angle);
      }
    }
    this.tw3Re = new Float64Array(Math.max(1, n >> 1));
    this.tw3Im = new Float64Array(Math.max(1, n >> 1));
    for (let q = 1; 4 * q <= n; q <<= 1) {
      for (let j = 0; j < q; j++) {
        const angle = (-2 * Math.PI * 3 * j) / (4 * q);
        this.tw3Re[q + j] = Math.cos(angle);
        this.tw3Im[q + j] = Math.sin(angle);
      }
    }
    const bits = Math.round(Math.log2(n));
    this.odd = bits % 2 === 1;
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
    if (n === 1) return;
    let span = n;
    if (this.odd) {
      this.dif2(re, im);
      span = n >> 1;
    }
    for (let q = span >> 2; q >= 1; q >>= 2) this.dif4(re, im, q);
  }

  /**
   * forwardScrambled of a signal that is zero from index `len` on (len ≤ n/2). Entries of re/im at
   * len and beyond are ignored (need not be zeroed): the first stage writes the whole array.
   */
  forwardScrambledPadded(re: Float64Array, im: Float64Array, len: number): void {
    const n = this.n;
    if (n < 4 || len > n >> 1) {
      re.fill(0, len);
      im.fill(0, len);
      this.forwardScrambled(re, im);
      return;
    }
    const half = n >> 1;
    if (this.odd) {
      // First radix-2 stage with x[j + n/2] = 0: a + b = a, (a − b)·w = a·w.
      const twRe = this.twRe;
      const twIm = this.twIm;
      for (let j = 0; j < len; j++) {
        const ar = re[j]!;
        const ai = im[j]!;
        const wr = twRe[half + j]!;
        const wi = twIm[half + j]!;
        re[half + j] = ar * wr - ai * wi;
        im[half + j] = ar * wi + ai * wr;
      }
      re.fill(0, len, half);
      im.fill(0, len, half);
      re.fill(0, half + len);
      im.fill(0, half + len);
      for (let q = half >> 2; q >= 1; q >>= 2) this.dif4(re, im, q);
    } else {
      // First radix-2² pass with x2 = x3 = 0 (indices ≥ n/2).
      const q = n >> 2;
      const twRe = this.twRe;
      const twIm = this.twIm;
      const t3r = this.tw3Re;
      const t3i = this.tw3Im;
      for (let j = 0; j < q; j++) {
        const p1 = j + q;
        const x0r = j < len ? re[j]! : 0;
        const x0i = j < len ? im[j]! : 0;
        const x1r = p1 < len ? re[p1]! : 0;
        const x1i = p1 < len ? im[p1]! : 0;
        const w1r = twRe[2 * q + j]!,
          w1i = twIm[2 * q + j]!;
        const w2r = twRe[q + j]!,
          w2i = twIm[q + j]!;
        const w3r = t3r[q + j]!,
          w3i = t3i[q + j]!;
        re[j] = x0r + x1r;
        im[j] = x0i + x1i;
        const dr = x0r - x1r,
          di = x0i - x1i;
        re[p1] = dr * w2r - di * w2i;
        im[p1] = dr * w2i + di * w2r;
        // x0 − i·x1 and x0 + i·x1
        const er = x0r + x1i,
          ei = x0i - x1r;
        const fr = x0r - x1i,
          fi = x0i + x1r;
        re[j + 2 * q] = er * w1r - ei * w1i;
        im[j + 2 * q] = er * w1i + ei * w1r;
        re[j + 3 * q] = fr * w3r - fi * w3i;
        im[j + 3 * q] = fr * w3i + fi * w3r;
      }
      for (let qq = q >> 2; qq >= 1; qq >>= 2) this.dif4(re, im, qq);
    }
  }

  /** Decimation in time: bit-reversed-order spectrum in, natural-order signal out, scaled by 1/n. */
  inverseScrambled(re: Float64Array, im: Float64Array): void {
    const n = this.n;
    if (n === 1) return;
    const span = this.odd ? n >> 1 : n;
    for (let q = 1; 4 * q <= span; q <<= 2) this.dit4(re, im, q, span);
    if (this.odd) this.dit2(re, im, n);
    const scale = 1 / n;
    for (let i = 0; i < n; i++) {
      re[i]! *= scale;
      im[i]! *= scale;
    }
  }

  /**
   * inverseScrambled without the 1/n scale, valid only in the first n/2 outputs (the rest is left
   * partially computed): the tail a zero-padded convolution discards is not computed.
   */
  inverseScrambledHead(re: Float64Array, im: Float64Array): void {
    const n = this.n;
    if (n < 4) {
      this.inverseScrambled(re, im);
      for (let i = 0; i < n; i++) {
        re[i]! *= n;
        im[i]! *= n;
      }
      return;
    }
    if (this.odd) {
      const span = n >> 1;
      for (let q = 1; 4 * q <= span; q <<= 2) this.dit4(re, im, q, span);
      this.dit2(re, im, n >> 1);
    } else {
      for (let q = 1; 4 * q < n; q <<= 2) this.dit4(re, im, q, n);
      this.dit4(re, im, n >> 2, n >> 1);
    }
  }

  /** DIF radix-2 stage with half = n/2. */
  private dif2(re: Float64Array, im: Float64Array): void {
    const half = this.n >> 1;
    const twRe = this.twRe;
    const twIm = this.twIm;
    for (let j = 0; j < half; j++) {
      const q = j + half;
      const ar = re[j]!,
        ai = im[j]!,
        br = re[q]!,
        bi = im[q]!;
      re[j] = ar + br;
      im[j] = ai + bi;
      const dr = ar - br,
        di = ai - bi;
      const wr = twRe[half + j]!,
        wi = twIm[half + j]!;
      re[q] = dr * wr - di * wi;
      im[q] = dr * wi + di * wr;
    }
  }

  /**
   * DIF radix-2² pass on blocks of 4q (stages half = 2q then half = q). With w = e^{−2πij/(4q)}:
   *   z0 = (x0 + x2) + (x1 + x3)          z1 = w²·((x0 + x2) − (x1 + x3))
   *   z2 = w·((x0 − x2) − i(x1 − x3))     z3 = w³·((x0 − x2) + i(x1 − x3))
   */
  private dif4(re: Float64Array, im: Float64Array, q: number): void {
    const n = this.n;
    if (q === 1) {
      for (let s = 0; s < n; s += 4) {
        const x0r = re[s]!,
          x0i = im[s]!,
          x1r = re[s + 1]!,
          x1i = im[s + 1]!;
        const x2r = re[s + 2]!,
          x2i = im[s + 2]!,
          x3r = re[s + 3]!,
          x3i = im[s + 3]!;
        const ar = x0r + x2r,
          ai = x0i + x2i,
          br = x1r + x3r,
          bi = x1i + x3i;
        const cr = x0r - x2r,
          ci = x0i - x2i,
          dr = x1r - x3r,
          di = x1i - x3i;
        re[s] = ar + br;
        im[s] = ai + bi;
        re[s + 1] = ar - br;
        im[s + 1] = ai - bi;
        re[s + 2] = cr + di;
        im[s + 2] = ci - dr;
        re[s + 3] = cr - di;
        im[s + 3] = ci + dr;
      }
      return;
    }
    const twRe = this.twRe;
    const twIm = this.twIm;
    const t3r = this.tw3Re;
    const t3i = this.tw3Im;
    const size = 4 * q;
    for (let j = 0; j < q; j++) {
      const w1r = twRe[2 * q + j]!,
        w1i = twIm[2 * q + j]!;
      const w2r = twRe[q + j]!,
        w2i = twIm[q + j]!;
      const w3r = t3r[q + j]!,
        w3i = t3i[q + j]!;
      for (let s = j; s < n; s += size) {
        const p1 = s + q,
          p2 = p1 + q,
          p3 = p2 + q;
        const x0r = re[s]!,
          x0i = im[s]!,
          x1r = re[p1]!,
          x1i = im[p1]!;
        const x2r = re[p2]!,
          x2i = im[p2]!,
          x3r = re[p3]!,
          x3i = im[p3]!;
        const ar = x0r + x2r,
          ai = x0i + x2i,
          br = x1r + x3r,
          bi = x1i + x3i;
        const cr = x0r - x2r,
          ci = x0i - x2i,
          dr = x1r - x3r,
          di = x1i - x3i;
        re[s] = ar + br;
        im[s] = ai + bi;
        const e1r = ar - br,
          e1i = ai - bi;
        re[p1] = e1r * w2r - e1i * w2i;
        im[p1] = e1r * w2i + e1i * w2r;
        const e2r = cr + di,
          e2i = ci - dr;
        re[p2] = e2r * w1r - e2i * w1i;
        im[p2] = e2r * w1i + e2i * w1r;
        const e3r = cr - di,
          e3i = ci + dr;
        re[p3] = e3r * w3r - e3i * w3i;
        im[p3] = e3r * w3i + e3i * w3r;
      }
    }
  }

  /**
   * DIT radix-2² pass on blocks of 4q (stages half = q then half = 2q), conjugate twiddles
   * c = e^{+2πij/(4q)}: t1 = c²·x1, t2 = c·x2, t3 = c³·x3,
   *   out0 = (x0 + t1) + (t2 + t3)      out2 = (x0 + t1) − (t2 + t3)
   *   out1 = (x0 − t1) + i(t2 − t3)     out3 = (x0 − t1) − i(t2 − t3)
   * Blocks start below `limit` (limit = n/2 with q = n/4 writes only outputs below n/2 of a full pass
   * when called for the head: outputs 2 and 3 of the single block are then skipped).
   */
  private dit4(re: Float64Array, im: Float64Array, q: number, limit: number): void {
    const n = this.n;
    if (q === 1) {
      for (let s = 0; s < n; s += 4) {
        const x0r = re[s]!,
          x0i = im[s]!,
          x1r = re[s + 1]!,
          x1i = im[s + 1]!;
        const x2r = re[s + 2]!,
          x2i = im[s + 2]!,
          x3r = re[s + 3]!,
          x3i = im[s + 3]!;
        const ar = x0r + x1r,
          ai = x0i + x1i,
          br = x0r - x1r,
          bi = x0i - x1i;
        const cr = x2r + x3r,
          ci = x2i + x3i,
          dr = x2r - x3r,
          di = x2i - x3i;
        re[s] = ar + cr;
        im[s] = ai + ci;
        re[s + 2] = ar - cr;
        im[s + 2] = ai - ci;
        re[s + 1] = br - di;
        im[s + 1] = bi + dr;
        re[s + 3] = br + di;
        im[s + 3] = bi - dr;
      }
      return;
    }
    const twRe = this.twRe;
    const twIm = this.twIm;
    const t3r = this.tw3Re;
    const t3i = this.tw3Im;
    const size = 4 * q;
    const head = limit < size; // only outputs 0 and 1 of the (single) block are wanted
    for (let j = 0; j < q; j++) {
      const c1r = twRe[2 * q + j]!,
        c1i = -twIm[2 * q + j]!;
      const c2r = twRe[q + j]!,
        c2i = -twIm[q + j]!;
      const c3r = t3r[q + j]!,
        c3i = -t3i[q + j]!;
      for (let s = j; s < n; s += size) {
        const p1 = s + q,
          p2 = p1 + q,
          p3 = p2 + q;
        const x0r = re[s]!,
          x0i = im[s]!;
        const y1r = re[p1]!,
          y1i = im[p1]!;
        const y2r = re[p2]!,
          y2i = im[p2]!;
        const y3r = re[p3]!,
          y3i = im[p3]!;
        const t1r = y1r * c2r - y1i * c2i,
          t1i = y1r * c2i + y1i * c2r;
        const t2r = y2r * c1r - y2i * c1i,
          t2i = y2r * c1i + y2i * c1r;
        const t3rr = y3r * c3r - y3i * c3i,
          t3ii = y3r * c3i + y3i * c3r;
        const ar = x0r + t1r,
          ai = x0i + t1i,
          br = x0r - t1r,
          bi = x0i - t1i;
        const cr = t2r + t3rr,
          ci = t2i + t3ii,
          dr = t2r - t3rr,
          di = t2i - t3ii;
        re[s] = ar + cr;
        im[s] = ai + ci;
        re[p1] = br - di;
        im[p1] = bi + dr;
        if (!head) {
          re[p2] = ar - cr;
          im[p2] = ai - ci;
          re[p3] = br + di;
          im[p3] = bi - dr;
        }
      }
    }
  }

  /** DIT radix-2 stage with half = n/2, computing outputs below `count` of the lower half (and the upper half when count = n). */
  private dit2(re: Float64Array, im: Float64Array, count: number): void {
    const half = this.n >> 1;
    const twRe = this.twRe;
    const twIm = this.twIm;
    const both = count > half;
    for (let j = 0; j < half; j++) {
      const q = j + half;
      const wr = twRe[half + j]!,
        wi = -twIm[half + j]!;
      const xr = re[q]!,
        xi = im[q]!;
      const br = xr * wr - xi * wi;
      const bi = xr * wi + xi * wr;
      const ar = re[j]!,
        ai = im[j]!;
      re[j] = ar + br;
      im[j] = ai + bi;
      if (both) {
        re[q] = ar - br;
        im[q] = ai - bi;
      }
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
