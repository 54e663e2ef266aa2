import { describe, expect, it } from 'vitest';
import { legsA, legsB, legsNplr } from '../../host/src/ssm/s4/hippo.js';
import { s4KernelBackward, s4KernelForward } from '../../host/src/ssm/s4/kernel.js';
import { discretizeChannel, s4Discretize, s4StepRun } from '../../host/src/ssm/s4/discrete.js';
import { initS4 } from '../../host/src/ssm/s4/init.js';
import { LAMBDA_RE_MAX, S4_MODE_FIELDS, s4Channel, type S4Channel } from '../../host/src/ssm/s4/params.js';

// ---------- independent float64 reference: dense complex matrices (row-major, split re/im) ----------

interface CMat {
  n: number;
  m: number;
  re: Float64Array;
  im: Float64Array;
}

const cmat = (n: number, m: number): CMat => ({ n, m, re: new Float64Array(n * m), im: new Float64Array(n * m) });

function cmul(a: CMat, b: CMat): CMat {
  const c = cmat(a.n, b.m);
  for (let i = 0; i < a.n; i++) {
    for (let k = 0; k < a.m; k++) {
      const ar = a.re[i * a.m + k]!,
        ai = a.im[i * a.m + k]!;
      for (let j = 0; j < b.m; j++) {
        c.re[i * b.m + j] += ar * b.re[k * b.m + j]! - ai * b.im[k * b.m + j]!;
        c.im[i * b.m + j] += ar * b.im[k * b.m + j]! + ai * b.re[k * b.m + j]!;
      }
    }
  }
  return c;
}

/** Solves A X = B by Gauss–Jordan elimination with partial pivoting. */
function csolve(A: CMat, B: CMat): CMat {
  const n = A.n;
  const a = { ...A, re: A.re.slice(), im: A.im.slice() };
  const b = { ...B, re: B.re.slice(), im: B.im.slice() };
  const swap = (x: CMat, r1: number, r2: number) => {
    for (let j = 0; j < x.m; j++) {
      [x.re[r1 * x.m + j], x.re[r2 * x.m + j]] = [x.re[r2 * x.m + j]!, x.re[r1 * x.m + j]!];
      [x.im[r1 * x.m + j], x.im[r2 * x.m + j]] = [x.im[r2 * x.m + j]!, x.im[r1 * x.m + j]!];
    }
  };
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++)
      if (Math.hypot(a.re[r * n + c]!, a.im[r * n + c]!) > Math.hypot(a.re[piv * n + c]!, a.im[piv * n + c]!)) piv = r;
    swap(a, c, piv);
    swap(b, c, piv);
    const dr = a.re[c * n + c]!,
      di = a.im[c * n + c]!,
      d2 = dr * dr + di * di;
    const ir = dr / d2,
      ii = -di / d2;
    for (const x of [a, b]) {
      for (let j = 0; j < x.m; j++) {
        const xr = x.re[c * x.m + j]!,
          xi = x.im[c * x.m + j]!;
        x.re[c * x.m + j] = xr * ir - xi * ii;
        x.im[c * x.m + j] = xr * ii + xi * ir;
      }
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const fr = a.re[r * n + c]!,
        fi = a.im[r * n + c]!;
      for (const x of [a, b]) {
        for (let j = 0; j < x.m; j++) {
          const yr = x.re[c * x.m + j]!,
            yi = x.im[c * x.m + j]!;
          x.re[r * x.m + j] -= fr * yr - fi * yi;
          x.im[r * x.m + j] -= fr * yi + fi * yr;
        }
      }
    }
  }
  return b;
}

/**
 * The full N = 2M mode system of one channel, built from its definition:
 * Λ_f = [λ; λ̄] (Re λ clamped), P_f = [p; p̄], A = diag(Λ_f) − P_f P_f*, B_f = [b; b̄], C_f = [c, c̄].
 */
function fullSystem(ch: S4Channel) {
  const M = ch.M,
    N = 2 * M;
  const A = cmat(N, N),
    B = cmat(N, 1),
    C = cmat(1, N);
  const lr = (n: number) => Math.min(ch.lambdaRe[n % M]!, LAMBDA_RE_MAX);
  const sign = (n: number) => (n < M ? 1 : -1);
  const pr = (n: number) => ch.pRe[n % M]!,
    pi = (n: number) => sign(n) * ch.pIm[n % M]!;
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      // −P_i conj(P_j)
      A.re[i * N + j] = -(pr(i) * pr(j) + pi(i) * pi(j));
      A.im[i * N + j] = -(pi(i) * pr(j) - pr(i) * pi(j));
    }
    A.re[i * N + i] += lr(i);
    A.im[i * N + i] += sign(i) * ch.lambdaIm[i % M]!;
    B.re[i] = ch.bRe[i % M]!;
    B.im[i] = sign(i) * ch.bIm[i % M]!;
    C.re[i] = ch.cRe[i % M]!;
    C.im[i] = sign(i) * ch.cIm[i % M]!;
  }
  return { N, A, B, C };
}

/** Bilinear: Ā = (I − dt/2 A)⁻¹(I + dt/2 A), B̄ = (I − dt/2 A)⁻¹ dt B. */
function bilinear(A: CMat, B: CMat, dt: number): { Ab: CMat; Bb: CMat } {
  const N = A.n;
  const minus = cmat(N, N),
    plus = cmat(N, N);
  for (let i = 0; i < N * N; i++) {
    minus.re[i] = -0.5 * dt * A.re[i]!;
    minus.im[i] = -0.5 * dt * A.im[i]!;
    plus.re[i] = 0.5 * dt * A.re[i]!;
    plus.im[i] = 0.5 * dt * A.im[i]!;
  }
  for (let i = 0; i < N; i++) {
    minus.re[i * N + i] += 1;
    plus.re[i * N + i] += 1;
  }
  const dB = { ...B, re: B.re.map((x) => dt * x), im: B.im.map((x) => dt * x) };
  return { Ab: csolve(minus, plus), Bb: csolve(minus, dB) };
}

/** K[l] = C Ā^l B̄ by explicit matrix powers; checks the imaginary part vanishes. */
function referenceKernel(ch: S4Channel, L: number): Float64Array {
  const { A, B, C } = fullSystem(ch);
  const { Ab, Bb } = bilinear(A, B, Math.exp(ch.logDt));
  const K = new Float64Array(L);
  let power = Bb; // Ā^l B̄
  for (let l = 0; l < L; l++) {
    const y = cmul(C, power);
    K[l] = y.re[0]!;
    expect(Math.abs(y.im[0]!)).toBeLessThan(1e-9 * (1 + Math.abs(y.re[0]!)));
    power = cmul(Ab, power);
  }
  return K;
}

// ---------- helpers ----------

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function randomChannel(M: number, seed: number, dt = 0.4): S4Channel {
  const r = lcg(seed);
  const v = (f: () => number) => Float64Array.from({ length: M }, f);
  return {
    M,
    logDt: Math.log(dt),
    lambdaRe: v(() => -0.05 - 0.6 * r()),
    lambdaIm: v(() => 6 * r() - 3),
    pRe: v(() => r() - 0.5),
    pIm: v(() => r() - 0.5),
    bRe: v(() => 2 * r() - 1),
    bIm: v(() => 2 * r() - 1),
    cRe: v(() => 2 * r() - 1),
    cIm: v(() => 2 * r() - 1),
  };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function causalConv(k: ArrayLike<number>, u: ArrayLike<number>, L: number): Float64Array {
  const y = new Float64Array(L);
  for (let t = 0; t < L; t++) {
    let s = 0;
    for (let j = 0; j <= t; j++) s += k[t - j]! * u[j]!;
    y[t] = s;
  }
  return y;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

// ---------- tests ----------

describe('S4 kernel (float64 core) against explicit matrix powers', () => {
  for (const [M, L, dt, seed] of [
    [3, 20, 0.4, 1], // L' = 32 > L: C̃ truncation matters (Ā^{L'} is not small at this dt)
    [4, 32, 0.9, 2], // L = L'
    [2, 1, 0.2, 3], // smallest L
    [5, 100, 0.05, 4],
  ] as const) {
    it(`M = ${M}, L = ${L}, dt = ${dt}`, () => {
      const ch = randomChannel(M, seed, dt);
      const ref = referenceKernel(ch, L);
      const { k } = s4KernelForward(ch, L);
      expect(k.length).toBe(L);
      expect(maxDiff(k, ref)).toBeLessThan(1e-11 * Math.max(1, maxAbs(ref)));
    });
  }

  it('clamps Re Λ to LAMBDA_RE_MAX (a positive Re Λ gives the kernel of the clamped system)', () => {
    const ch = randomChannel(3, 5);
    ch.lambdaRe[1] = 0.7;
    const clamped = { ...ch, lambdaRe: ch.lambdaRe.slice() };
    clamped.lambdaRe[1] = LAMBDA_RE_MAX;
    expect(maxDiff(s4KernelForward(ch, 40).k, s4KernelForward(clamped, 40).k)).toBe(0);
    expect(maxDiff(s4KernelForward(ch, 40).k, referenceKernel(clamped, 40))).toBeLessThan(1e-11);
  });

  it('the initialised channel is the real LegS system: same kernel as dense bilinear(A_LegS) with C = 2·Re(c V_h*)', () => {
    const N = 16;
    const M = N / 2;
    const init = initS4(2, N, { seed: 9, dtMin: 0.01, dtMax: 0.1 });
    const ch = s4Channel(init, 1);
    const f = legsNplr(N);
    // Dense real system from the LegS definition, in the original (polynomial) basis.
    const A = cmat(N, N),
      B = cmat(N, 1),
      C = cmat(1, N);
    A.re.set(legsA(N));
    B.re.set(legsB(N));
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < M; j++) {
        // c_j · conj(V[i, j])
        C.re[i] += 2 * (ch.cRe[j]! * f.vRe[i * N + j]! + ch.cIm[j]! * f.vIm[i * N + j]!);
      }
    }
    const { Ab, Bb } = bilinear(A, B, Math.exp(ch.logDt));
    const L = 64;
    const ref = new Float64Array(L);
    let power = Bb;
    for (let l = 0; l < L; l++) {
      ref[l] = cmul(C, power).re[0]!;
      power = cmul(Ab, power);
    }
    // The channel's parameters went through float32.
    expect(maxDiff(s4KernelForward(ch, L).k, ref)).toBeLessThan(1e-4 * maxAbs(ref));
  });
});

describe('S4 kernel backward: central finite differences in float64', () => {
  const cases = [
    { M: 3, L: 20, dt: 0.4, seed: 11 },
    { M: 4, L: 16, dt: 1.3, seed: 12 },
    { M: 2, L: 5, dt: 0.1, seed: 13, clampFirst: true },
  ];
  for (const { M, L, dt, seed, clampFirst } of cases) {
    it(`M = ${M}, L = ${L}, dt = ${dt}${clampFirst ? ', one Re Λ clamped' : ''}: log_dt, Λ, P, B, C`, () => {
      const ch = randomChannel(M, seed, dt);
      if (clampFirst) ch.lambdaRe[0] = 0.25;
      const r = lcg(seed + 100);
      const G = Float64Array.from({ length: L }, () => 2 * r() - 1);
      const loss = (c: S4Channel) => {
        const k = s4KernelForward(c, L).k;
        let s = 0;
        for (let l = 0; l < L; l++) s += G[l]! * k[l]!;
        return s;
      };
      const { cache } = s4KernelForward(ch, L);
      const g = s4KernelBackward(ch, L, G, cache);
      const gNoCache = s4KernelBackward(ch, L, G);
      const h = 1e-6;
      const clone = (c: S4Channel): S4Channel => {
        const out = { ...c };
        for (const f of S4_MODE_FIELDS) out[f] = c[f].slice();
        return out;
      };
      const check = (analytic: number, plus: S4Channel, minus: S4Channel) => {
        const fd = (loss(plus) - loss(minus)) / (2 * h);
        expect(Math.abs(analytic - fd)).toBeLessThan(2e-7 * (1 + Math.abs(fd)));
      };
      {
        const p = clone(ch),
          m = clone(ch);
        p.logDt += h;
        m.logDt -= h;
        check(g.logDt, p, m);
        expect(gNoCache.logDt).toBe(g.logDt);
      }
      let nonzero = 0;
      for (const f of S4_MODE_FIELDS) {
        for (let n = 0; n < M; n++) {
          const p = clone(ch),
            m = clone(ch);
          p[f][n] += h;
          m[f][n] -= h;
          check(g[f][n]!, p, m);
          if (Math.abs(g[f][n]!) > 1e-6) nonzero++;
        }
        expect(Array.from(gNoCache[f])).toEqual(Array.from(g[f]));
      }
      // A gradient that is identically zero would pass FD only by accident: most entries are not.
      expect(nonzero).toBeGreaterThan(8 * M - 3);
      if (clampFirst) expect(g.lambdaRe[0]).toBe(0);
    });
  }

  it('rejects a gradient of the wrong length', () => {
    expect(() => s4KernelBackward(randomChannel(2, 1), 10, new Float64Array(9))).toThrow('expected L = 10');
  });
});

describe('S4 step mode', () => {
  it('the three step forms (structured Ā₁/Ā₂, real 2M×2M, dense full reference) agree', () => {
    const ch = randomChannel(3, 21, 0.3);
    const d = discretizeChannel(ch, 0);
    const { A, B } = fullSystem(ch);
    const { Ab, Bb } = bilinear(A, B, Math.exp(ch.logDt));
    const M = 3,
      N = 6;
    // Ā₁ is the top-left block of the full Ā, Ā₂ the top-right; B̄ the top half.
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < M; j++) {
        expect(d.a1Re[i * M + j]).toBeCloseTo(Ab.re[i * N + j]!, 12);
        expect(d.a1Im[i * M + j]).toBeCloseTo(Ab.im[i * N + j]!, 12);
        expect(d.a2Re[i * M + j]).toBeCloseTo(Ab.re[i * N + M + j]!, 12);
        expect(d.a2Im[i * M + j]).toBeCloseTo(Ab.im[i * N + M + j]!, 12);
      }
      expect(d.bBarRe[i]).toBeCloseTo(Bb.re[i]!, 12);
      expect(d.bBarIm[i]).toBeCloseTo(Bb.im[i]!, 12);
    }
    // The real form's impulse response is the kernel.
    const L = 30;
    const u = new Float64Array(L);
    u[0] = 1;
    expect(maxDiff(s4StepRun([d], u, L), referenceKernel(ch, L))).toBeLessThan(1e-12);
  });

  it('conv mode (kernel + direct causal convolution) equals step mode within 1e-4 relative at L = 1024', () => {
    const H = 4,
      N = 64,
      L = 1024;
    const init = initS4(H, N, { seed: 3 });
    // Move away from the identical-Λ init so channels differ in more than C and dt.
    const r = lcg(77);
    for (let i = 0; i < H * (N / 2); i++) {
      init.lambdaRe[i] = init.lambdaRe[i]! * (0.5 + r());
      init.pRe[i] = init.pRe[i]! + 0.1 * (r() - 0.5);
      init.pIm[i] = init.pIm[i]! + 0.1 * (r() - 0.5);
    }
    init.logDt[2] = Math.log(0.5); // a coarse step too
    const active = Int32Array.from([0, 2, 3]);
    const u = Float64Array.from({ length: active.length * L }, () => 2 * r() - 1);
    const D = Float64Array.from([0.3, -1.2, 0.7]);
    const yStep = s4StepRun(s4Discretize(init, active), u, L, D);
    active.forEach((h, row) => {
      const k = s4KernelForward(s4Channel(init, h), L).k;
      const uRow = u.subarray(row * L, (row + 1) * L);
      const yConv = causalConv(k, uRow, L).map((y, t) => y + D[row]! * uRow[t]!);
      expect(relErr(yConv, yStep.subarray(row * L, (row + 1) * L))).toBeLessThan(1e-4);
      // Float64 both ways: in fact far tighter than the required 1e-4.
      expect(relErr(yConv, yStep.subarray(row * L, (row + 1) * L))).toBeLessThan(1e-9);
    });
  });

  it('checks its inputs', () => {
    const init = initS4(2, 4);
    expect(() => s4Discretize(init, Int32Array.from([2]))).toThrow('active channel 2 out of range');
    expect(() => s4Discretize(init, Int32Array.from([1, 1]))).toThrow('listed twice');
    expect(() => s4Discretize(init, Int32Array.from([1, 0]))).toThrow('sorted and unique (got 1 then 0)');
    expect(() => s4StepRun(s4Discretize(init, Int32Array.from([0])), new Float64Array(5), 4)).toThrow('expected 1·4');
    expect(() => initS4(2, 5)).toThrow('d_state N must be an even integer');
    expect(() => initS4(2, 4, { dtMin: 0.1, dtMax: 0.01 })).toThrow('dtMin ≤ dtMax');
  });

  it('initialises identical Λ, P, B per channel, seeded C and log_dt in [log dtMin, log dtMax)', () => {
    const a = initS4(3, 8, { seed: 5, dtMin: 0.002, dtMax: 0.05 });
    const b = initS4(3, 8, { seed: 5, dtMin: 0.002, dtMax: 0.05 });
    const c = initS4(3, 8, { seed: 6, dtMin: 0.002, dtMax: 0.05 });
    expect(Array.from(a.cRe)).toEqual(Array.from(b.cRe));
    expect(Array.from(a.cRe)).not.toEqual(Array.from(c.cRe));
    for (const f of ['lambdaRe', 'lambdaIm', 'pRe', 'bIm'] as const) {
      expect(Array.from(a[f].subarray(0, 4))).toEqual(Array.from(a[f].subarray(8, 12)));
    }
    for (const x of a.logDt) {
      expect(x).toBeGreaterThanOrEqual(Math.log(0.002) - 1e-6);
      expect(x).toBeLessThan(Math.log(0.05) + 1e-6);
    }
  });
});
