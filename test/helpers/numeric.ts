import { expect } from 'vitest';
import { relErr as maxRelErr } from '../../host/src/testing/numeric.js';

/** max |got − want| / max |want| (host/src/testing/numeric.ts), after checking that the lengths match. */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  return maxRelErr(got, want);
}
