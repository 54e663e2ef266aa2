/**
 * The rollout lives in the server's run store: a server killed mid-rollout and started again on the same
 * workspace resumes the deployment once its agents are back, without measuring anything twice, and keeps
 * the desired state and history.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, tmpDir } from '../helpers/fleet.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';
import { AGENT_CLI, HOST_CLI, killAll, runCli, startCli, type LiveProcess } from '../helpers/processes.js';

const dir = tmpDir('s4op-deploy-restart-');
const workspace = path.join(dir, 'ws');
const TOKEN = 'restart-token';
afterAll(() => killAll());

describe('deployment across a server restart', () => {
  it('resumes where it stopped once the agents reconnect; each agent measured once', async () => {
    const port = await freePort();
    const serve = (): LiveProcess =>
      startCli(HOST_CLI, [
        'serve',
        '--port',
        String(port),
        '--token',
        TOKEN,
        '--workspace',
        workspace,
        '--heartbeat-ms',
        '500',
      ]);
    let host = serve();
    await host.waitFor(/^listening on /);
    const url = `ws://127.0.0.1:${port}`;
    const agents = ['e1', 'e2'].map((n) =>
      startCli(
        AGENT_CLI,
        [
          '--host',
          url,
          '--name',
          n,
          '--tags',
          'edge',
          '--cache-dir',
          path.join(dir, n),
          '--serve-port',
          '0',
          '--disable-runtime',
          'onnxruntime-web',
        ],
        { env: { S4OP_TOKEN: TOKEN } },
      ),
    );
    for (const n of ['e1', 'e2']) await host.waitFor(new RegExp(`agent ${n} .* connected`));
    const file = path.join(dir, 'm.onnx');
    const bytes = mlpModel({ width: 8, layers: 2, batch: 'batch', seed: 9 });
    writeFileSync(file, bytes);
    const settings = JSON.stringify({ warmup_ms: 0, warmup_runs: 2, min_duration_ms: 2500, min_samples: 10 });
    const started = await runCli(HOST_CLI, [
      'deploy',
      '--server',
      `http://127.0.0.1:${port}`,
      '--token',
      TOKEN,
      '--workspace',
      workspace,
      '--model',
      file,
      '--to',
      'tag:edge',
      '--canary',
      '0',
      '--settings',
      settings,
      '--no-wait',
      '--json',
    ]);
    expect(started.code, started.stderr).toBe(0);
    const id = (JSON.parse(started.stdout) as { id: string }).id;
    await agents[0]!.waitFor(/job d-dep-\S+: measuring m\.onnx/, 20_000);
    host.child.kill('SIGKILL');
    await host.exited;

    host = serve();
    await host.waitFor(new RegExp(`deployment ${id}: resuming at wave 1`), 20_000);
    // Both agents end active (an agent slow to reconnect under load converges a moment later instead).
    let rec = { status: '', reason: '', agents: [] as { agent_name: string; state: string }[] };
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const d = await runCli(HOST_CLI, ['deployments', id, '--workspace', workspace, '--json']);
      rec = JSON.parse(d.stdout) as typeof rec;
      if (rec.status !== 'running' && rec.agents.every((a) => a.state === 'active')) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    const why = `${JSON.stringify(rec)}\n${host.lines.slice(-20).join('\n')}`;
    expect(rec.status, why).toBe('succeeded');
    expect(
      rec.agents.map((a) => a.state),
      why,
    ).toEqual(['active', 'active']);
    for (const a of agents)
      expect(
        a.lines.filter((l) => /job d-dep-\S+: measuring/.test(l)),
        a.lines.slice(-20).join('\n'),
      ).toHaveLength(1);
    const fleet = await runCli(HOST_CLI, [
      'fleet',
      'status',
      '--server',
      `http://127.0.0.1:${port}`,
      '--token',
      TOKEN,
      '--json',
    ]);
    const sha = (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
    expect(
      (
        JSON.parse(fleet.stdout) as { agents: { active_sha256: string; desired_sha256: string; health: string }[] }
      ).agents.map((a) => [a.active_sha256, a.desired_sha256, a.health]),
    ).toEqual([
      [sha, sha, 'in_sync'],
      [sha, sha, 'in_sync'],
    ]);
  });
});
