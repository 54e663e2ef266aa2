import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { wasmAvailable } from '../../host/src/ssm/conv-wasm.js';

describe('wasm engine of the S4D convolution', () => {
  it('loads on this runtime (WebAssembly SIMD)', () => {
    expect(wasmAvailable(2048)).toBe(true);
    expect(wasmAvailable(8)).toBe(false); // tiny FFTs stay in JS
  });

  it('the committed module (host/src/ssm/wasm-bytes.ts) is compiled from host/assembly/ssm-core.ts', () => {
    const script = fileURLToPath(new URL('../../scripts/build-wasm.mjs', import.meta.url));
    const out = execFileSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    expect(out).toContain('matches');
  });
});
