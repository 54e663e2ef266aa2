/** Model bytes the host can send, by content hash (sha256): pushed once per hash per agent that lacks it. */
import { sha256Hex, type ModelRef } from '@s4op/shared';

export class HostModels {
  private readonly bytes = new Map<string, Uint8Array>();

  add(bytes: Uint8Array, name?: string): ModelRef {
    const sha256 = sha256Hex(bytes);
    this.bytes.set(sha256, bytes);
    return { sha256, size: bytes.length, ...(name ? { name: name.slice(0, 256) } : {}) };
  }

  get(sha256: string): Uint8Array | undefined {
    return this.bytes.get(sha256);
  }

  delete(sha256: string): void {
    this.bytes.delete(sha256);
  }
}
