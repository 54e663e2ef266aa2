/**
 * Per-state importance of an S4D layer from its parameters alone: a state is one mode m of one channel h
 * (index h·M + m), standing for the complex-conjugate pair the kernel's 2·Re(·) implies.
 *
 * With A = −exp(logAReal) + i·aImag, dt = exp(logDt) and zero-order hold (B = 1):
 *   λ̄ = exp(dt·A),   B̄ = (exp(dt·A) − 1)/A,   |λ̄| = exp(dt·Re A) < 1.
 * Mode i alone is the first-order system x' = λ̄ x + B̄ u, y = C x, whose impulse response is C λ̄^k B̄:
 *   LAST (Gwak et al., NeurIPS 2024), its H∞ norm squared:
 *     h_i = ‖C_i‖² ‖B̄_i‖² / (1 − |λ̄_i|)²        (peak gain Σ_k |C B̄| |λ̄|^k)
 *   AIRE (AIRE-Prune, ICLR 2026), its impulse-response energy:
 *     h_i = ‖C_i‖² ‖B̄_i‖² / (1 − |λ̄_i|²)         (Σ_k |C B̄|² |λ̄|^{2k})
 * Bidirectional layers share λ̄ and B̄; the two C rows combine as ‖C_i‖² = ((|C1_i| + |C2_i|)/2)².
 * The conjugate partner doubles every score alike, so it is left out.
 *
 * Precision: 1 − |λ̄| = −expm1(dt·Re A) and 1 − |λ̄|² = −expm1(2·dt·Re A) do not cancel when dt·|A| ≪ 1,
 * and B̄ comes from zoh (expm1 as well). Everything is float64.
 */
import { zoh } from '../../ssm/s4d/kernel.js';
import { s4dDirections, type S4DValues } from '../../ssm/s4d/params.js';

/** The parameter-only state criteria. */
export type S4DStateKind = 'last' | 'aire';

/** Scores of every state of one layer (length H·M, index h·M + m; higher = more important). */
export function s4dStateScores(values: S4DValues, kind: S4DStateKind): Float64Array {
  if (kind !== 'last' && kind !== 'aire')
    throw new Error(`state scores: kind must be "last" or "aire", got "${String(kind)}"`);
  const dirs = s4dDirections(values);
  const { H, M, logDt, logAReal, aImag, cRe, cIm } = values;
  const out = new Float64Array(H * M);
  for (let h = 0; h < H; h++) {
    const dt = Math.exp(logDt[h]!);
    for (let m = 0; m < M; m++) {
      const i = h * M + m;
      const aRe = -Math.exp(logAReal[i]!);
      const { fr, fi } = zoh(aRe, aImag[i]!, dt);
      const b2 = fr * fr + fi * fi;
      // Mean of the directions' |C|, then squared (not divided by 2², as a precedence slip would).
      let cAbs = 0;
      for (let d = 0; d < dirs; d++) cAbs += Math.hypot(cRe[d * H * M + i]!, cIm[d * H * M + i]!);
      const c2 = (cAbs / dirs) ** 2;
      const gap = kind === 'last' ? (-Math.expm1(dt * aRe)) ** 2 : -Math.expm1(2 * dt * aRe);
      out[i] = (c2 * b2) / gap;
    }
  }
  return out;
}
