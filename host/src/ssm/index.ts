/**
 * The SSM custom ops (tfjs ops with hand-derived gradients), for code outside ssm/ that needs them by a path
 * that does not change when the files in here move.
 */
export { s4dKernel, type S4DParams } from './s4d/op.js';
export { s4Kernel } from './s4/op.js';
export { ssmConv } from './conv/op.js';
