/**
 * One importance criterion: a name, a line of help, and how it scores every active channel of a model
 * (higher = more important). Each criterion is a file of this folder, listed once in registry.ts.
 */
import type { SequenceModel } from '../../model/model.js';
import type { LayerScores, ScoreContext } from '../importance.js';

export interface ImportanceCriterion {
  /** What `--criteria` and `parseCriteria` call it: lowercase letters and '-'. */
  name: string;
  /** One line for help texts. */
  summary: string;
  /** Reads training batches (`ctx.data`); scoring without them is an error. */
  needsData?: boolean;
  score(model: SequenceModel, ctx: ScoreContext): LayerScores;
}
