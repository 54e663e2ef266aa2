/**
 * The SSM custom ops (tfjs ops with hand-derived gradients), for code outside ssm/ that needs them by a path
 * that does not change when the files in here move.
 */
export { s4dKernel, ssmConv } from './ops.js';
export type { S4DParams } from './ops.js';
