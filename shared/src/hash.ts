import { createHash, timingSafeEqual } from 'node:crypto';

/** Lowercase hex sha256 of `bytes`: the content address of a model on both ends of the link. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Compares two secrets in time that does not depend on where they differ. Both are hashed first, so
 * neither the length nor the content of the expected token leaks through timing.
 */
export function constantTimeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
