import type { StateCriterion } from './criterion.js';
import { s4dStateScores } from './modes.js';

export const aire: StateCriterion = {
  name: 'aire',
  summary: "each mode's impulse-response energy, ‖C‖²‖B̄‖²/(1 − |λ̄|²) (AIRE-Prune, 2026)",
  score: (layers) => layers.map((v) => s4dStateScores(v, 'aire')),
};
