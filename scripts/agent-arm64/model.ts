/** Writes the small MatMul/Add/Relu ONNX model the emulated-board run profiles: `npx tsx model.ts OUT [width] [layers]`. */
import { writeFileSync } from 'node:fs';
import { mlpModel } from '@s4op/host/testing';

const [out, width = '64', layers = '4'] = process.argv.slice(2);
if (!out) throw new Error('usage: model.ts OUT.onnx [width] [layers]');
writeFileSync(out, mlpModel({ width: Number(width), layers: Number(layers), batch: 'batch' }));
console.log(`wrote ${out}`);
