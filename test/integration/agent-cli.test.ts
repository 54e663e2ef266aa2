/**
 * `s4op bench` and `s4op serve` from the command line: the embedded mode (server + local agent on
 * loopback), a running server with a tagged agent, A/B mode, and errors that name the problem.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_CLI, HOST_CLI, killAll, runCli, startCli, startServe } from '../helpers/processes.js';
import { tmpDir } from '../helpers/fleet.js';
import { mlpModel, stringInputModel } from '../../host/src/testing/onnx-models.js';

afterAll(killAll);

const dir = tmpDir('s4op-bench-cli-');
const modelA = path.join(dir, 'a.onnx');
const modelB = path.join(dir, 'b.onnx');
const strings = path.join(dir, 'strings.onnx');
writeFileSync(modelA, mlpModel({ width: 32, layers: 2, batch: 'batch' }));
writeFileSync(modelB, mlpModel({ width: 128, layers: 4 }));
writeFileSync(strings, stringInputModel());
const FAST = ['--warmup-ms', '10', '--warmup-runs', '2', '--min-duration-ms', '60', '--min-samples', '10'];

describe('s4op bench', () => {
  it('measures with an embedded server and local agent, printing JSON', async () => {
    const r = await runCli(
      HOST_CLI,
      ['bench', '--model', modelA, '--json', '--dims', 'batch=2', '--runtime', 'onnxruntime-web', ...FAST],
      { timeoutMs: 60_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.agent.name).toBe('local');
    expect(out.measurement.runtime.name).toBe('onnxruntime-web');
    expect(out.measurement.settings).toMatchObject({ min_samples: 10, dims: { batch: 2 }, threads: 1 });
    expect(out.measurement.models[0].inputs[0].shape).toEqual([2, 32]);
  });

  it('prints the figures and the settings for people, and A/B ratios', async () => {
    const r = await runCli(HOST_CLI, ['bench', '--model', modelA, '--model-b', modelB, '--dims', 'batch=1', ...FAST], {
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /agent local: onnxruntime-node \d+\.\d+\.\d+ \(execution_provider=cpu, intra_op_threads=1/,
    );
    expect(r.stdout).toMatch(/settings: warm-up ≥10 ms and ≥2 runs; timed ≥60 ms and ≥10 samples/);
    expect(r.stdout).toMatch(/^A a\.onnx /m);
    expect(r.stdout).toMatch(/^B b\.onnx /m);
    expect(r.stdout).toMatch(/latency ms \(n=\d+\): min [\d.]+ {2}median [\d.]+ \[[\d.]+, [\d.]+\]/);
    expect(r.stdout).toMatch(/ratio B\/A \(n=\d+ interleaved pairs\): median [\d.]+/);
    expect(r.stdout).toMatch(/memory MB: baseline [\d.]+, \+[-\d.]+ by load/);
    expect(r.stdout).toMatch(/^thermal: before /m);
  });

  it('goes through a running server to an agent picked by tag', async () => {
    const host = await startServe();
    startCli(
      AGENT_CLI,
      [
        '--host',
        host.url,
        '--name',
        'tagged',
        '--tags',
        'pi4,lab',
        '--cache-dir',
        tmpDir(),
        '--disable-runtime',
        'onnxruntime-web',
      ],
      { env: { S4OP_TOKEN: host.token } },
    );
    await host.waitFor(/agent tagged .* connected/);
    const r = await runCli(
      HOST_CLI,
      ['bench', '--server', host.url, '--token', host.token, '--tag', 'lab', '--model', modelB, '--json', ...FAST],
      { timeoutMs: 60_000 },
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).agent.name).toBe('tagged');
    const missing = await runCli(HOST_CLI, [
      'bench',
      '--server',
      host.url,
      '--token',
      host.token,
      '--agent',
      'nobody',
      '--wait-agent-ms',
      '300',
      '--model',
      modelB,
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /no_agent: no agent named "nobody" connected within 300 ms \(connected: tagged\[pi4,lab\]\)/,
    );
    const wrong = await runCli(HOST_CLI, ['bench', '--server', host.url, '--token', 'nope', '--model', modelB]);
    expect(wrong.stderr).toMatch(/unauthorized: wrong token/);
    const bad = await runCli(HOST_CLI, [
      'bench',
      '--server',
      host.url,
      '--token',
      host.token,
      '--agent',
      'tagged',
      '--model',
      strings,
      ...FAST,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unsynthesisable_input: .*input "s" has dtype string/);
  });

  it('names bad arguments', async () => {
    const cases: [string[], RegExp][] = [
      [['bench', '--model', path.join(dir, 'absent.onnx')], /--model .*absent\.onnx: ENOENT/],
      [['bench', '--model', modelA, '--threads', 'many'], /--threads must be an integer, got "many"/],
      [['bench', '--model', modelA, '--threads', '0'], /field "threads"/],
      [['bench', '--model', modelA, '--dims', 'batch'], /--dims takes name=integer pairs/],
      [['bench', '--model', modelA, '--settings', '{"warmpu_ms": 1}'], /unknown field "warmpu_ms"/],
      [['bench', '--model', modelA, '--agent', 'a', '--tag', 't'], /give --agent or --tag, not both/],
      [['serve', '--port', '0'], /no token: pass --token T or set S4OP_TOKEN/],
      [['serve', '--port', '99999', '--token', 't'], /--port must be an integer in 0–65535/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(HOST_CLI, args, { env: { S4OP_TOKEN: '' } });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    const agentArgs: [string[], RegExp][] = [
      [['--host', 'http://x:1', '--token', 't'], /--host must start with ws:\/\/ or wss:\/\//],
      [['--host', 'ws://127.0.0.1:1', '--token', 't', '--name', 'bad name!'], /--name "bad name!" must be/],
      [['--host', 'ws://127.0.0.1:1', '--token', 't', '--tags', 'ok,not ok'], /tag "not ok" must be/],
      [
        ['--host', 'ws://127.0.0.1:1', '--token', 't', '--disable-runtime', 'tensorflow'],
        /--disable-runtime takes onnxruntime-node or onnxruntime-web/,
      ],
    ];
    for (const [args, message] of agentArgs) {
      const r = await runCli(AGENT_CLI, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });
});
