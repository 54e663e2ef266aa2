/**
 * The board tarball: built by scripts/agent-pack/pack.mjs, installed the README's way
 * (`ONNXRUNTIME_NODE_INSTALL=skip npm install ./s4op-agent-<v>.tgz`) into an empty folder (no workspace, no
 * host package); the installed CLI runs the versions the repository's lock pins, and on a platform where
 * onnxruntime-node ships a binary it is there (the script fails otherwise).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/processes.js';

describe('agent tarball', () => {
  it('installs with npm alone and runs', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [`${REPO}scripts/agent-pack/pack.mjs`, '--check'],
        { timeout: 110_000, maxBuffer: 1 << 22 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr.slice(-2000)}`)) : resolve(stdout)),
      ),
    );
    expect(out).toMatch(/agent tarball: .*s4op-agent-\d+\.\d+\.\d+\.tgz/);
    expect(out).toMatch(/installed: s4op-agent \d+\.\d+\.\d+/);
    const lock = JSON.parse(readFileSync(`${REPO}package-lock.json`, 'utf8'));
    const web = lock.packages['node_modules/onnxruntime-web'].version;
    expect(out).toContain(`pinned: onnxruntime-web ${web}`);
    expect(out).toMatch(new RegExp(`runtimes .*onnxruntime-web=${web.replace(/\./g, '\\.')}`));
    expect(out).toContain('direct dependencies at the tested versions');
    expect(out).toMatch(/native runtime: /);
  }, 120_000);
});
