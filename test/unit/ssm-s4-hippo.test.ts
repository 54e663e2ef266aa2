import { describe, expect, it } from 'vitest';
import { legsA, legsB, legsHalf, legsNplr, legsP } from '../../host/src/ssm/s4/hippo.js';
import { eigHermitian } from '../../host/src/ssm/s4/eigh.js';

/** LegS written out from its definition, independently of hippo.ts. */
function legsDefinition(N: number): number[][] {
  return Array.from({ length: N }, (_, n) =>
    Array.from({ length: N }, (_, k) =>
      n > k ? -Math.sqrt(2 * n + 1) * Math.sqrt(2 * k + 1) : n === k ? -(n + 1) : 0,
    ),
  );
}

/** Σ_j V[i,j]·x_j·conj(V[k,j]) for complex V (row-major) and complex diagonal x. */
function vDiagVh(
  vRe: Float64Array,
  vIm: Float64Array,
  xRe: ArrayLike<number>,
  xIm: ArrayLike<number>,
  N: number,
  cols: number[],
) {
  const re = new Float64Array(N * N);
  const im = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < N; k++) {
      let sr = 0;
      let si = 0;
      for (const j of cols) {
        const ar = vRe[i * N + j]! * xRe[j]! - vIm[i * N + j]! * xIm[j]!;
        const ai = vRe[i * N + j]! * xIm[j]! + vIm[i * N + j]! * xRe[j]!;
        sr += ar * vRe[k * N + j]! + ai * vIm[k * N + j]!;
        si += ai * vRe[k * N + j]! - ar * vIm[k * N + j]!;
      }
      re[i * N + k] = sr;
      im[i * N + k] = si;
    }
  }
  return { re, im };
}

describe('HiPPO-LegS in NPLR form', () => {
  it('the dense LegS matrix, B and P match their definitions', () => {
    const N = 7;
    const def = legsDefinition(N);
    const A = legsA(N);
    for (let n = 0; n < N; n++) for (let k = 0; k < N; k++) expect(A[n * N + k]).toBe(def[n]![k]);
    expect(Array.from(legsB(3))).toEqual([1, Math.sqrt(3), Math.sqrt(5)]);
    expect(Array.from(legsP(2))).toEqual([Math.sqrt(0.5), Math.sqrt(1.5)]);
  });

  for (const N of [8, 64]) {
    it(`V Λ V* − P Pᵀ reconstructs LegS within 1e-8 (N = ${N}), with V unitary`, () => {
      const f = legsNplr(N);
      const all = Array.from({ length: N }, (_, j) => j);
      const rec = vDiagVh(f.vRe, f.vIm, f.lambdaRe, f.lambdaIm, N, all);
      const def = legsDefinition(N);
      const P = legsP(N);
      let err = 0;
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < N; k++) {
          err = Math.max(err, Math.abs(rec.re[n * N + k]! - P[n]! * P[k]! - def[n]![k]!), Math.abs(rec.im[n * N + k]!));
        }
      }
      expect(err).toBeLessThan(1e-8);
      // V*V = I
      const eye = vDiagVh(f.vRe, f.vIm, new Float64Array(N).fill(1), new Float64Array(N), N, all);
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < N; k++) {
          expect(Math.abs(eye.re[n * N + k]! - (n === k ? 1 : 0)) + Math.abs(eye.im[n * N + k]!)).toBeLessThan(1e-10);
        }
      }
      // Normal part: Re Λ = −½, conjugate pairs, kept half has Im Λ < 0 sorted most negative first.
      for (let j = 0; j < N; j++) expect(f.lambdaRe[j]).toBeCloseTo(-0.5, 12);
      for (let j = 0; j < N / 2; j++) {
        expect(f.lambdaIm[j]).toBeLessThan(0);
        expect(f.lambdaIm[N / 2 + j]).toBeCloseTo(-f.lambdaIm[j]!, 9);
        if (j > 0) expect(f.lambdaIm[j]).toBeGreaterThan(f.lambdaIm[j - 1]!);
        // P in the eigenbasis is real and non-negative by the phase choice.
        expect(Math.abs(f.pIm[j]!)).toBeLessThan(1e-10);
        expect(f.pRe[j]).toBeGreaterThanOrEqual(0);
      }
      // B and P in the eigenbasis are V* B, V* P: V (V* P) = P.
      for (let i = 0; i < N; i++) {
        let sr = 0;
        let si = 0;
        for (let j = 0; j < N; j++) {
          sr += f.vRe[i * N + j]! * f.bRe[j]! - f.vIm[i * N + j]! * f.bIm[j]!;
          si += f.vRe[i * N + j]! * f.bIm[j]! + f.vIm[i * N + j]! * f.bRe[j]!;
        }
        expect(Math.abs(sr - Math.sqrt(2 * i + 1)) + Math.abs(si)).toBeLessThan(1e-9);
      }
    });
  }

  it('the kept half with its implied conjugates gives back LegS: 2·Re(V_h Λ_h V_h*) − P Pᵀ = A', () => {
    const N = 16;
    const f = legsNplr(N);
    const half = Array.from({ length: N / 2 }, (_, j) => j);
    const rec = vDiagVh(f.vRe, f.vIm, f.lambdaRe, f.lambdaIm, N, half);
    const def = legsDefinition(N);
    const P = legsP(N);
    let err = 0;
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < N; k++) err = Math.max(err, Math.abs(2 * rec.re[n * N + k]! - P[n]! * P[k]! - def[n]![k]!));
    }
    expect(err).toBeLessThan(1e-9);
    const h = legsHalf(N);
    expect(Array.from(h.lambdaIm)).toEqual(Array.from(f.lambdaIm.slice(0, N / 2)));
    expect(Array.from(h.bRe)).toEqual(Array.from(f.bRe.slice(0, N / 2)));
  });

  it('rejects an odd or non-integer d_state', () => {
    expect(() => legsNplr(7)).toThrow('d_state N must be even');
    expect(() => legsA(2.5)).toThrow('positive integer');
  });
});

describe('Hermitian Jacobi eigensolver', () => {
  it('diagonalises a random Hermitian matrix: H v = μ v, eigenvalues ascending', () => {
    const n = 12;
    let s = 12345;
    const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5;
    const re = new Float64Array(n * n);
    const im = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      re[i * n + i] = 4 * rnd();
      for (let j = i + 1; j < n; j++) {
        re[i * n + j] = re[j * n + i] = rnd();
        im[i * n + j] = rnd();
        im[j * n + i] = -im[i * n + j]!;
      }
    }
    const { values, vecRe, vecIm } = eigHermitian(re, im, n);
    for (let j = 0; j < n; j++) {
      if (j > 0) expect(values[j]).toBeGreaterThanOrEqual(values[j - 1]!);
      for (let i = 0; i < n; i++) {
        let sr = 0;
        let si = 0;
        for (let k = 0; k < n; k++) {
          sr += re[i * n + k]! * vecRe[k * n + j]! - im[i * n + k]! * vecIm[k * n + j]!;
          si += re[i * n + k]! * vecIm[k * n + j]! + im[i * n + k]! * vecRe[k * n + j]!;
        }
        expect(
          Math.abs(sr - values[j]! * vecRe[i * n + j]!) + Math.abs(si - values[j]! * vecIm[i * n + j]!),
        ).toBeLessThan(1e-12);
      }
    }
  });

  it('rejects a non-Hermitian matrix', () => {
    expect(() => eigHermitian(Float64Array.from([1, 2, 3, 4]), new Float64Array(4), 2)).toThrow(
      'not Hermitian at (0, 1)',
    );
  });
});
