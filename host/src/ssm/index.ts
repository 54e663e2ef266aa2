/**
 * The SSM core as one entry point (`@s4op/host/ssm`): the custom tfjs ops (hand-derived gradients) and the
 * engines under them, for code outside ssm/ (the backend self-check, the micro-benchmarks) by a path that does
 * not change when the files in here move.
 */
export { s4dKernel, type S4DParams } from './s4d/op.js';
export { initS4D } from './s4d/params.js';
export { s4Kernel } from './s4/op.js';
export { s4KernelBackward, s4KernelForward } from './s4/kernel.js';
export { initS4, s4ParamsFromArrays } from './s4/init.js';
export { s4Channel, type S4Params } from './s4/params.js';
export { ssmConv } from './conv/op.js';
export { convSize, releaseConvSaved, ssmConvBackward, ssmConvForward } from './conv/conv.js';
export { wasmAvailable } from './conv/engine-wasm.js';
export { configureSsmThreads, ssmThreadInfo } from './wasm/wasm-core.js';
