/** Argument checks shared by the SSM tfjs ops (s4d/op.ts, conv/op.ts). */
import * as tf from '@tensorflow/tfjs';

/** Checks rank (and leading dims when given); returns the shape. Errors name the argument. */
export function checkShape(name: string, t: tf.Tensor, rank: number, expect: number[] = []): number[] {
  if (!(t instanceof tf.Tensor)) throw new Error(`${name} must be a tf.Tensor`);
  if (t.rank !== rank || expect.some((v, i) => t.shape[i] !== v)) {
    const want = [...expect.map(String), ...Array<string>(rank - expect.length).fill('?')];
    throw new Error(`${name} has shape [${t.shape}], expected [${want}]`);
  }
  return t.shape;
}
