/**
 * One state-importance criterion: a name, a line of help, and how it scores every state (mode m of
 * channel h, index h·M + m) of each S4D layer. Each criterion is a file of this folder, listed once in
 * registry.ts.
 */
import type { S4DValues } from '../../ssm/s4d/params.js';

export interface StateContext {
  /** Seed for criteria that draw random numbers. */
  seed: number;
}

export interface StateCriterion {
  /** Lowercase letters and '-'. */
  name: string;
  /** One line for help texts. */
  summary: string;
  /** Per layer, a score per state (length H·M; higher = more important, finite and ≥ 0). */
  score(layers: readonly S4DValues[], ctx: StateContext): Float64Array[];
}
