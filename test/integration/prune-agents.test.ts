/**
 * The search's measurer against real agent processes dialing its embedded server: an agent that drops in
 * the middle of a measurement gets the job again when it returns; with a tag, the job moves to another
 * agent of the tag once its agent stays away.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AgentMeasurer } from '../../host/dist/prune/cost/agent.js';
import { sha256Hex } from '../../shared/dist/index.js';
import { freePort, tmpDir } from '../helpers/fleet.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';
import { AGENT_CLI, killAll, startCli, type LiveProcess } from '../helpers/processes.js';

const TOKEN = 'prune-agents-token';
// Long enough that the agent can be killed while it measures.
const SLOW = { warmup_ms: 10, warmup_runs: 2, min_duration_ms: 2500, min_samples: 16 };
const live: LiveProcess[] = [];
const measurers: AgentMeasurer[] = [];

afterAll(async () => {
  for (const m of measurers) await m.close();
  for (const p of live) await p.stop();
  killAll();
});

function agent(port: number, name: string, cacheDir: string, tags = 'board'): LiveProcess {
  const p = startCli(
    AGENT_CLI,
    ['--host', `ws://127.0.0.1:${port}`, '--name', name, '--tags', tags, '--cache-dir', cacheDir],
    { env: { S4OP_TOKEN: TOKEN } },
  );
  live.push(p);
  return p;
}

async function measurer(
  port: number,
  failoverMs: number,
  tag = 'board',
  settings: object = SLOW,
): Promise<AgentMeasurer> {
  const m = await AgentMeasurer.start({
    mode: 'conv',
    length: 8,
    tag,
    port,
    token: TOKEN,
    settings,
    cacheDir: tmpDir(),
    failoverMs,
    heartbeatMs: 500,
  });
  measurers.push(m);
  return m;
}

describe('measuring through agents that drop', () => {
  it('a job whose agent is killed mid-measurement completes when the agent returns', async () => {
    const port = await freePort();
    const m = await measurer(port, 60_000);
    const cache = tmpDir('s4op-agent-b1-');
    const first = agent(port, 'b1', cache);
    await first.waitFor(/connected to/);
    const bytes = mlpModel({ width: 32, layers: 2, seed: 1 });
    const pending = m.measure({ model_sha256: sha256Hex(bytes), bytes, name: 'return.onnx' });
    await first.waitFor(/measuring return\.onnx/, 30_000);
    await first.stop('SIGKILL');
    const back = agent(port, 'b1', cache);
    const f = await pending;
    expect(f.measured_by).toBe('b1');
    expect(f.p50_ms).toBeGreaterThan(0);
    expect(back.lines.some((l) => /measuring return\.onnx/.test(l))).toBe(true);
  });

  it('with a tag, the job moves to another agent of the tag when its agent stays away', async () => {
    const port = await freePort();
    const m = await measurer(port, 500);
    const a = agent(port, 'c1', tmpDir('s4op-agent-c1-'));
    const b = agent(port, 'c2', tmpDir('s4op-agent-c2-'));
    await Promise.all([a.waitFor(/connected to/), b.waitFor(/connected to/)]);
    const bytes = mlpModel({ width: 32, layers: 2, seed: 2 });
    const pending = m.measure({ model_sha256: sha256Hex(bytes), bytes, name: 'move.onnx' });
    const busy = await Promise.race([
      a.waitFor(/measuring move\.onnx/, 30_000).then(() => a),
      b.waitFor(/measuring move\.onnx/, 30_000).then(() => b),
    ]);
    const other = busy === a ? 'c2' : 'c1';
    await busy.stop('SIGKILL');
    const f = await pending;
    expect(f.measured_by).toBe(other);
    expect(f.p50_ms).toBeGreaterThan(0);
  });

  it('several device classes: one agent of each measures, the worst class is the figure', async () => {
    const port = await freePort();
    const m = await measurer(port, 60_000, 'pi,jetson', {
      warmup_ms: 10,
      warmup_runs: 2,
      min_duration_ms: 100,
      min_samples: 16,
    });
    expect(m.agent).toBe('tags:pi,jetson@q1');
    const a = agent(port, 'pi-1', tmpDir('s4op-agent-pi-'), 'pi');
    const b = agent(port, 'jet-1', tmpDir('s4op-agent-jet-'), 'jetson');
    await Promise.all([a.waitFor(/connected to/), b.waitFor(/connected to/)]);
    const bytes = mlpModel({ width: 32, layers: 2, seed: 3 });
    const f = await m.measure({ model_sha256: sha256Hex(bytes), bytes, name: 'classes.onnx' });
    expect(f.measured_by).toBe('pi:pi-1,jetson:jet-1');
    const per = f.statistics as Record<string, { p50_ms: number }>;
    expect(f.p50_ms).toBe(Math.max(per.pi!.p50_ms, per.jetson!.p50_ms));
    expect([a, b].every((p) => p.lines.some((l) => /measuring classes\.onnx/.test(l)))).toBe(true);
  });
});
