/** Recurrent step variant: one state input per layer, pool_sum and pool_count (step.ts). */
import { buildStepGraph } from '../step.js';
import type { StepVariant } from './variant.js';

export const stepRecurrent: StepVariant = {
  mode: 'step',
  name: 'recurrent',
  summary: 'one state_<i> per layer, pool_sum and pool_count (the first layout)',
  build: (b, snap, c, ssms, bypass, batch, arithmetic) =>
    buildStepGraph(b, snap, c, ssms, bypass, batch, 'recurrent', arithmetic),
};
