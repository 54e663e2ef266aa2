import { Rng } from '../../util/random.js';
import type { StateCriterion } from './criterion.js';

export const random: StateCriterion = {
  name: 'random',
  summary: 'uniform scores from a seeded stream (a baseline)',
  score(layers, { seed }) {
    // One forked stream per layer, as the channel criterion does: a layer's scores do not depend on
    // how many states the layers before it have.
    const rng = new Rng(seed);
    return layers.map((v) => {
      const layer = new Rng(rng.fork());
      return Float64Array.from({ length: v.H * v.M }, () => layer.next());
    });
  },
};
