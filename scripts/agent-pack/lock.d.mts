// Types of lock.mjs (a plain script `pack.mjs` runs with node), for the test that imports it.
type Lock = { packages: Record<string, unknown> };
type PinOptions = { workspace?: string; bundled?: string[] };
export function pinToLock(
  lock: Lock,
  deps: Record<string, string> | undefined,
  options?: PinOptions,
): Record<string, string>;
export function agentShrinkwrap(lock: Lock, pkg: object, options?: PinOptions): unknown;
export function nativePlatforms(ortNodeDir: string): string[];
export function installLine(tarball: string): string;
export function nativeVerdict(
  platform: string,
  runtimes: { name: string; available?: boolean; version?: string; reason?: string }[],
  platforms: string[],
  tarball: string,
): { ok: boolean; note: string };
