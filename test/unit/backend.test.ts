import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@s4op/host';

describe('tfjs backend seam', () => {
  it('starts the first available backend and computes on it', async () => {
    const choice = await initBackend();
    expect(tf.getBackend()).toBe(choice.name);
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(y.dataSync())).toEqual([11]);
  });

  it('names an unknown backend in its error', async () => {
    await expect(initBackend('nope')).rejects.toThrow('unknown tfjs backend "nope"');
  });
});
