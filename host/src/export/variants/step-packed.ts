/** Packed step variant: every layer's SSM state in one tensor, the pooling state in another (step.ts). */
import { buildStepGraph } from '../step.js';
import type { StepVariant } from './variant.js';

export const stepPacked: StepVariant = {
  mode: 'step',
  name: 'packed',
  summary: "all layers' SSM states in one input ssm_state, the pooling state in pool (two state tensors)",
  build: (b, snap, c, ssms, bypass, batch, arithmetic) =>
    buildStepGraph(b, snap, c, ssms, bypass, batch, 'packed', arithmetic),
};
