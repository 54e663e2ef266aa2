import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Lowercase hex sha256 of `data` (a string is hashed as its UTF-8 bytes): the content address of a model
 * on both ends of the link, and the one hash helper of the host and the agent.
 */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
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
