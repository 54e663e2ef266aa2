/**
 * The `spin` setting end to end: `s4op bench` → a running `s4op serve` → a real agent on loopback (job
 * message) → onnxruntime session options → the result, which records the setting and how the runtime applied it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_CLI, HOST_CLI, killAll, runCli, startCli, startServe } from '../helpers/processes.js';
import { tmpDir } from '../helpers/fleet.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';

afterAll(killAll);

const dir = tmpDir('s4op-spin-');
const model = path.join(dir, 'm.onnx');
writeFileSync(model, mlpModel({ width: 64, layers: 2 }));
const FAST = ['--warmup-ms', '10', '--warmup-runs', '2', '--min-duration-ms', '50', '--min-samples', '10'];

describe('spin measurement setting', () => {
  it('round-trips through the server and a real agent and is recorded with the result', async () => {
    const host = await startServe();
    startCli(AGENT_CLI, ['--host', host.url, '--name', 'spinner', '--cache-dir', tmpDir()], {
      env: { S4OP_TOKEN: host.token },
    });
    await host.waitFor(/agent spinner .* connected/);
    const bench = async (args: string[]) => {
      const r = await runCli(
        HOST_CLI,
        [
          'bench',
          '--server',
          host.url,
          '--token',
          host.token,
          '--agent',
          'spinner',
          '--model',
          model,
          '--json',
          ...FAST,
          ...args,
        ],
        { timeoutMs: 60_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as {
        measurement: {
          settings: Record<string, unknown>;
          runtime: { name: string; settings: Record<string, unknown> };
        };
      };
    };

    const off = (await bench(['--runtime', 'onnxruntime-node', '--threads', '2', '--no-spin'])).measurement;
    expect(off.runtime.name).toBe('onnxruntime-node');
    expect(off.settings).toMatchObject({ spin: false, threads: 2 });
    expect(off.runtime.settings).toMatchObject({ intra_op_threads: 2, intra_op_allow_spinning: false });

    const on = (await bench(['--runtime', 'onnxruntime-web', '--settings', '{"spin": true}'])).measurement;
    expect(on.runtime.name).toBe('onnxruntime-web');
    expect(on.settings.spin).toBe(true);
    expect(on.runtime.settings.intra_op_allow_spinning).toBe(true);

    // Not given: onnxruntime's own default, and no field in the settings (cache keys stay as they were).
    const plain = (await bench(['--runtime', 'onnxruntime-node'])).measurement;
    expect('spin' in plain.settings).toBe(false);
    expect(plain.runtime.settings.intra_op_allow_spinning).toBe('default');

    const bad = await runCli(HOST_CLI, [
      'bench',
      '--server',
      host.url,
      '--token',
      host.token,
      '--agent',
      'spinner',
      '--model',
      model,
      '--settings',
      '{"spin": "off"}',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/field "spin"/);
  });
});
