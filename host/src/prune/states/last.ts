import type { StateCriterion } from './criterion.js';
import { s4dStateScores } from './modes.js';

export const last: StateCriterion = {
  name: 'last',
  summary: "each mode's H∞ norm squared, ‖C‖²‖B̄‖²/(1 − |λ̄|)² (LAST, Gwak et al. 2024)",
  score: (layers) => layers.map((v) => s4dStateScores(v, 'last')),
};
