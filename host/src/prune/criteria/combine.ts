/**
 * Criteria by name, weighted and combined: "hinf", "hinf+taylor", "2*hinf+taylor". One criterion gives its raw
 * scores; several, the weighted mean of their per-layer ranks.
 */
import type { SequenceModel } from '../../model/model.js';
import { rankNormalize, type LayerScores, type ScoreContext } from '../importance.js';
import { importanceCriterion } from './registry.js';

/** A criterion's name (one of registry.ts's). */
export type Criterion = string;

export interface WeightedCriterion {
  criterion: Criterion;
  weight: number;
}

/** Parses "hinf", "hinf+taylor", "2*hinf+taylor" into weighted criteria. */
export function parseCriteria(text: string): WeightedCriterion[] {
  const out = text.split('+').map((part) => {
    const m = /^\s*(?:(\d+(?:\.\d+)?)\s*\*\s*)?([a-z-]+)\s*$/.exec(part);
    if (!m) throw new Error(`importance: cannot read "${part}" in "${text}" (expected e.g. hinf+taylor or 2*hinf+d)`);
    const criterion = importanceCriterion(m[2]!).name;
    const weight = m[1] === undefined ? 1 : Number(m[1]);
    if (!(weight > 0)) throw new Error(`importance: weight of ${criterion} must be positive`);
    return { criterion, weight };
  });
  const names = out.map((c) => c.criterion);
  const dup = names.find((c, i) => names.indexOf(c) !== i);
  if (dup) throw new Error(`importance: criterion ${dup} given twice in "${text}"`);
  return out;
}

export function criterionScores(model: SequenceModel, criterion: Criterion, ctx: ScoreContext): LayerScores {
  const c = importanceCriterion(criterion);
  if (c.needsData && !ctx.data) throw new Error(`importance: the ${c.name} criterion needs training data`);
  return c.score(model, ctx);
}

/** One criterion: its raw scores; several: the weighted mean of their per-layer ranks. */
export function importanceScores(
  model: SequenceModel,
  criteria: readonly WeightedCriterion[],
  ctx: ScoreContext,
): LayerScores {
  if (!criteria.length) throw new Error('importance: no criterion given');
  if (criteria.length === 1) return criterionScores(model, criteria[0]!.criterion, ctx);
  const total = criteria.reduce((a, c) => a + c.weight, 0);
  const parts = criteria.map((c) => ({
    w: c.weight / total,
    ranks: rankNormalize(criterionScores(model, c.criterion, ctx)),
  }));
  return parts[0]!.ranks.map((layer, i) => layer.map((_, k) => parts.reduce((a, p) => a + p.w * p.ranks[i]![k]!, 0)));
}
