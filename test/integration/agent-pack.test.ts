/**
 * The board tarball: built by scripts/agent-pack/pack.mjs, installed with plain `npm install` into an empty
 * folder (no workspace, no host package), and the installed CLI runs and finds a runtime.
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/processes.js';

describe('agent tarball', () => {
  it('installs with npm alone and runs', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [`${REPO}scripts/agent-pack/pack.mjs`, '--check'], { timeout: 110_000, maxBuffer: 1 << 22 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr.slice(-2000)}`)) : resolve(stdout),
      ),
    );
    expect(out).toMatch(/agent tarball: .*s4op-agent-\d+\.\d+\.\d+\.tgz/);
    expect(out).toMatch(/installed: s4op-agent \d+\.\d+\.\d+/);
    expect(out).toMatch(/runtimes .*onnxruntime-web=\d+\.\d+/);
  }, 120_000);
});
