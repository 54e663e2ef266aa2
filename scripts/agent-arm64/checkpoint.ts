/**
 * Writes an untrained checkpoint of the demo's shape (S4D d_model 32, d_state 32, 4 layers, one input feature,
 * 10 classes) for the emulated-board run's export tuning: latency does not depend on the weights' values.
 *
 *   npx tsx scripts/agent-arm64/checkpoint.ts OUT_DIR
 */
import { initBackend, saveCheckpoint, SequenceModel } from '@s4op/host';
import { benchS4dConfig } from '../bench/common.js';

const [out] = process.argv.slice(2);
if (!out) throw new Error('usage: checkpoint.ts OUT_DIR');
await initBackend('cpu');
const model = new SequenceModel(benchS4dConfig(32, 32), 0);
await saveCheckpoint(out, model, { dataset: { name: 'demo-shape', length: 196 } });
model.dispose();
console.log(`wrote ${out}`);
