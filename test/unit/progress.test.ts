import { afterEach, describe, expect, it, vi } from 'vitest';
import { Progress } from '../../host/src/util/progress.js';

afterEach(() => vi.restoreAllMocks());

function capture(fn: () => void): string {
  let out = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  fn();
  vi.restoreAllMocks();
  return out;
}

describe('Progress', () => {
  it('off a terminal writes no bar, only the closing summary line', () => {
    const text = capture(() => {
      const p = new Progress('train', 10);
      for (let i = 1; i <= 10; i++) p.update(i, `loss ${i}`);
      p.done('val 0.9');
    });
    expect(text).not.toContain('loss');
    expect(text).toMatch(/^train done in \d+\.\ds val 0\.9\n$/);
  });

  it('writes nothing at all when quiet (--json)', () => {
    const text = capture(() => {
      const p = new Progress('train', 3, { quiet: true });
      p.update(1);
      p.done('x');
    });
    expect(text).toBe('');
  });
});
