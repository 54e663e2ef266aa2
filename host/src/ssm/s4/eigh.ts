/**
 * Eigen-decomposition of a complex Hermitian matrix in float64 by cyclic Jacobi rotations.
 *
 * Used once per d_state to diagonalise the normal part of HiPPO-LegS (i·S is Hermitian for a real
 * skew-symmetric S). O(n³) per sweep and quadratic convergence: a few sweeps for n ≤ 256.
 *
 * Each rotation is W = diag(1, e^{−iφ}) · [[c, s], [−s, c]] on the (p, q) plane: the phase makes
 * h_pq real, then the real Jacobi rotation (Numerical Recipes convention) zeroes it.
 */

export interface HermitianEig {
  /** Real eigenvalues, ascending. */
  values: Float64Array;
  /** Eigenvectors as columns of an n×n row-major matrix (vecRe[i·n + j] is component i of vector j). */
  vecRe: Float64Array;
  vecIm: Float64Array;
}

export function eigHermitian(
  hRe: Float64Array,
  hIm: Float64Array,
  n: number,
  { tol = 1e-15, maxSweeps = 60 }: { tol?: number; maxSweeps?: number } = {},
): HermitianEig {
  if (!Number.isInteger(n) || n < 1) throw new Error(`eigHermitian: n must be a positive integer, got ${n}`);
  if (hRe.length !== n * n || hIm.length !== n * n) {
    throw new Error(
      `eigHermitian: expected ${n}×${n} = ${n * n} entries, got ${hRe.length} (re) and ${hIm.length} (im)`,
    );
  }
  const ar = Float64Array.from(hRe);
  const ai = Float64Array.from(hIm);
  let norm2 = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const dr = ar[i * n + j]! - ar[j * n + i]!;
      const di = ai[i * n + j]! + ai[j * n + i]!;
      if (Math.abs(dr) + Math.abs(di) > 1e-12 * (1 + Math.abs(ar[i * n + j]!) + Math.abs(ai[i * n + j]!))) {
        throw new Error(`eigHermitian: matrix is not Hermitian at (${i}, ${j})`);
      }
      norm2 += ar[i * n + j]! ** 2 + ai[i * n + j]! ** 2;
    }
  }
  const vr = new Float64Array(n * n);
  const vi = new Float64Array(n * n);
  for (let i = 0; i < n; i++) vr[i * n + i] = 1;

  for (let sweep = 0; ; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) off += ar[p * n + q]! ** 2 + ai[p * n + q]! ** 2;
    }
    if (off <= tol * tol * norm2) break;
    if (sweep >= maxSweeps)
      throw new Error(`eigHermitian: no convergence after ${maxSweeps} sweeps (off-diagonal ${Math.sqrt(off)})`);
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const hr = ar[p * n + q]!;
        const hi = ai[p * n + q]!;
        const r = Math.hypot(hr, hi);
        if (r === 0) continue;
        // e^{−iφ} where h_pq = r·e^{iφ}
        const er = hr / r;
        const ei = -hi / r;
        const theta = (ar[q * n + q]! - ar[p * n + p]!) / (2 * r);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // W = [[wpp, wpq], [wqp, wqq]] = [[c, s], [−s·e^{−iφ}, c·e^{−iφ}]]
        const wqpR = -s * er,
          wqpI = -s * ei;
        const wqqR = c * er,
          wqqI = c * ei;
        // Columns: A ← A·W, V ← V·W.
        for (const [mr, mi] of [
          [ar, ai],
          [vr, vi],
        ] as const) {
          for (let k = 0; k < n; k++) {
            const kp = k * n + p,
              kq = k * n + q;
            const xr = mr[kp]!,
              xi = mi[kp]!,
              yr = mr[kq]!,
              yi = mi[kq]!;
            mr[kp] = c * xr + (yr * wqpR - yi * wqpI);
            mi[kp] = c * xi + (yr * wqpI + yi * wqpR);
            mr[kq] = s * xr + (yr * wqqR - yi * wqqI);
            mi[kq] = s * xi + (yr * wqqI + yi * wqqR);
          }
        }
        // Rows: A ← W*·A.
        for (let k = 0; k < n; k++) {
          const pk = p * n + k,
            qk = q * n + k;
          const xr = ar[pk]!,
            xi = ai[pk]!,
            yr = ar[qk]!,
            yi = ai[qk]!;
          ar[pk] = c * xr + (wqpR * yr + wqpI * yi);
          ai[pk] = c * xi + (wqpR * yi - wqpI * yr);
          ar[qk] = s * xr + (wqqR * yr + wqqI * yi);
          ai[qk] = s * xi + (wqqR * yi - wqqI * yr);
        }
        ar[p * n + q] = ai[p * n + q] = ar[q * n + p] = ai[q * n + p] = 0;
        ai[p * n + p] = ai[q * n + q] = 0;
      }
    }
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => ar[x * n + x]! - ar[y * n + y]!);
  const values = new Float64Array(n);
  const vecRe = new Float64Array(n * n);
  const vecIm = new Float64Array(n * n);
  order.forEach((src, j) => {
    values[j] = ar[src * n + src]!;
    for (let i = 0; i < n; i++) {
      vecRe[i * n + j] = vr[i * n + src]!;
      vecIm[i * n + j] = vi[i * n + src]!;
    }
  });
  return { values, vecRe, vecIm };
}
