/**
 * Writes an untrained checkpoint of the demo's shape (S4D d_model 32, d_state 32, 4 layers, one input feature,
 * 10 classes) for the emulated-board run's export tuning: latency does not depend on the weights' values.
 *
 *   npx tsx scripts/agent-arm64/checkpoint.ts OUT_DIR
 */
import { initBackend } from '../../host/src/backend.js';
import { saveCheckpoint } from '../../host/src/model/checkpoint.js';
import { SequenceModel } from '../../host/src/model/model.js';

const [out] = process.argv.slice(2);
if (!out) throw new Error('usage: checkpoint.ts OUT_DIR');
await initBackend('cpu');
const model = new SequenceModel(
  { ssm: 's4d', dModel: 32, dState: 32, nLayers: 4, inputKind: 'continuous', inputSize: 1, numClasses: 10, multiLabel: false, prenorm: false, norm: 'layer', dropout: 0, bidirectional: false, init: 'lin', dtMin: 1e-3, dtMax: 1e-1 },
  0,
);
await saveCheckpoint(out, model, { dataset: { name: 'demo-shape', length: 196 } });
model.dispose();
console.log(`wrote ${out}`);
