/**
 * `s4op export --tune` against a real agent process on loopback (through `s4op serve`, and a local agent of
 * its own): at two lengths where direct and chunked differ clearly — one each way — the tuner's winner is the
 * variant this test finds faster when it measures the same two exports paired itself (`s4op bench
 * --model-b`); a later `auto` export for the class follows the record without a new job on the agent; and
 * bad input gives a clear error.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listTunings } from '../../host/dist/export/tuned.js';
import { initBackend } from '../../host/dist/backend.js';
import { saveCheckpoint } from '../../host/dist/model/checkpoint.js';
import { SequenceModel } from '../../host/dist/model/model.js';
import { RunStore } from '../../host/dist/store/run-store.js';
import { freePort, tmpDir } from '../helpers/fleet.js';
import { AGENT_CLI, HOST_CLI, killAll, runCli, startCli, type LiveProcess } from '../helpers/processes.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const TOKEN = 'export-tune-token';
const SETTINGS = JSON.stringify({ warmup_ms: 100, warmup_runs: 5, min_duration_ms: 500, min_samples: 32 });
const dir = tmpDir('s4op-export-tune-');
const ckpt = path.join(dir, 'ckpt');
const ws = path.join(dir, 'ws');
let server: LiveProcess;
let agent: LiveProcess;
let url: string;

beforeAll(async () => {
  await initBackend('cpu');
  const model = new SequenceModel(tinyConfig({ dModel: 8, dState: 8, nLayers: 2 }), 5);
  await saveCheckpoint(ckpt, model, { dataset: { name: 'synthetic', length: 512 } });
  model.dispose();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = startCli(HOST_CLI, [
    'serve',
    '--port',
    String(port),
    '--token',
    TOKEN,
    '--workspace',
    path.join(dir, 'serve-ws'),
  ]);
  await server.waitFor(/^listening on /);
  agent = startCli(
    AGENT_CLI,
    [
      '--host',
      `ws://127.0.0.1:${port}`,
      '--name',
      'board-1',
      '--tags',
      'lab',
      '--cache-dir',
      path.join(dir, 'agent-cache'),
    ],
    { env: { S4OP_TOKEN: TOKEN } },
  );
  await agent.waitFor(/connected to/);
});
afterAll(async () => {
  await agent?.stop();
  await server?.stop();
  killAll();
});

// Jobs only ("job ID: measuring …"), not the agent's once-per-runtime device peak measurement.
const jobsOnAgent = () => agent.lines.filter((l) => /job \S+: measuring /.test(l)).length;
/** Through the test's `s4op serve` (its URL is known once it listens; SERVER_URL stands for it in the table below). */
const viaServer = () => ['--server', 'SERVER_URL', '--token', TOKEN];
const withUrl = (args: string[]) => args.map((a) => (a === 'SERVER_URL' ? url : a));

function exportArgs(L: number, extra: string[]): string[] {
  return [
    'export',
    '--checkpoint',
    ckpt,
    '--mode',
    'conv',
    '--length',
    String(L),
    '--workspace',
    ws,
    '--backend',
    'cpu',
    ...extra,
  ];
}

describe('s4op export --tune', () => {
  it('picks, on a real agent, the variant that is faster there by the same pair measured in the test', async () => {
    const winners: string[] = [];
    // At L 512 the direct Conv's L² taps lose to 16-step blocks; at L 32 four-step blocks' many nodes lose to one Conv.
    for (const [L, block] of [
      [512, 16],
      [32, 4],
    ] as const) {
      const before = jobsOnAgent();
      const t = await runCli(
        HOST_CLI,
        withUrl(
          exportArgs(L, [
            '--tune',
            '--tag',
            'lab',
            '--variants',
            'direct,chunked',
            '--block',
            String(block),
            '--settings',
            SETTINGS,
            '--json',
            ...viaServer(),
          ]),
        ),
        { timeoutMs: 90_000 },
      );
      expect(t.stderr).toBe('');
      expect(t.code).toBe(0);
      const tuning = JSON.parse(t.stdout).tuning;
      expect(tuning).toMatchObject({
        device_class: 'lab',
        agent: 'board-1',
        reference: `chunked T=${block}`,
        shape: { mode: 'conv', length: L, d_model: 8, d_state: 8, n_layers: 2, ssm: 's4d', bidirectional: false },
      });
      expect(tuning.options.map((o: { label: string }) => o.label)).toEqual([`chunked T=${block}`, 'direct']);
      expect(jobsOnAgent() - before).toBe(1); // one A/B job: direct paired with the reference

      // The same two exports, measured paired by the test on the same agent.
      const files: Record<string, string> = {};
      for (const v of ['chunked', 'direct']) {
        files[v] = path.join(dir, `${v}-${L}.onnx`);
        const e = await runCli(HOST_CLI, exportArgs(L, ['--variant', v, '--block', String(block), '--out', files[v]!]));
        expect(e.code).toBe(0);
      }
      const b = await runCli(
        HOST_CLI,
        withUrl([
          'bench',
          '--model',
          files.chunked!,
          '--model-b',
          files.direct!,
          '--tag',
          'lab',
          '--settings',
          SETTINGS,
          '--json',
          ...viaServer(),
        ]),
        { timeoutMs: 60_000 },
      );
      expect(b.code).toBe(0);
      const ratio = JSON.parse(b.stdout).measurement.ratio.median as number; // direct / chunked
      expect(Math.abs(Math.log(ratio))).toBeGreaterThan(Math.log(1.25)); // a clear case, or the test proves nothing
      const faster = ratio > 1 ? `chunked T=${block}` : 'direct';
      expect(tuning.label).toBe(faster);
      const direct = tuning.options.find((o: { label: string }) => o.label === 'direct');
      expect(Math.sign(Math.log(direct.ratio))).toBe(Math.sign(Math.log(ratio)));
      winners.push(tuning.label);
    }
    // The winners differ between the lengths: the tuner measured, it did not keep one choice.
    expect(winners).toEqual(['chunked T=16', 'direct']);
  });

  it('a later auto export for the class follows the record, with no new job on the agent', async () => {
    const before = jobsOnAgent();
    const out = path.join(dir, 'tuned.onnx');
    const r = await runCli(HOST_CLI, exportArgs(512, ['--tag', 'lab', '--out', out, '--json']));
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({
      variant: 'chunked',
      variant_params: [{ block: 16 }, { block: 16 }],
      tuned: { device_class: 'lab', label: 'chunked T=16' },
    });
    expect(readFileSync(out).length).toBe(s.bytes);
    const text = await runCli(
      HOST_CLI,
      exportArgs(32, ['--device-class', 'lab', '--out', path.join(dir, 'tuned32.onnx')]),
    );
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`variant direct (tuned for class lab on ${new Date().toISOString().slice(0, 10)})`);
    expect(jobsOnAgent()).toBe(before);
    const store = RunStore.openWorkspace(ws);
    try {
      expect(listTunings(store, 'lab')).toHaveLength(2);
    } finally {
      store.close();
    }
    // No record for this class or shape: auto keeps its static choice and says so.
    const none = await runCli(
      HOST_CLI,
      exportArgs(256, ['--tag', 'lab', '--out', path.join(dir, 'static.onnx'), '--json']),
    );
    expect(none.code).toBe(0);
    // (Its static rule takes toeplitz for 8 rows at L 256, shorter than prefix's PREFIX_MIN_LENGTH.)
    expect(JSON.parse(none.stdout)).toMatchObject({ variant: 'toeplitz', tuned: null });
    expect(none.stderr).toMatch(
      /no tuning of class lab for conv L 256, S4D d_model 8 d_state 8, 2 layers .*: auto keeps its static rule/,
    );
    // An explicit variant or block length is not overridden.
    const explicit = await runCli(
      HOST_CLI,
      exportArgs(512, ['--tag', 'lab', '--variant', 'fft', '--out', path.join(dir, 'fft.onnx'), '--json']),
    );
    expect(JSON.parse(explicit.stdout)).toMatchObject({ variant: 'fft', tuned: null });
    const blocked = await runCli(
      HOST_CLI,
      exportArgs(512, ['--tag', 'lab', '--block', '64', '--out', path.join(dir, 'b64.onnx'), '--json']),
    );
    expect(JSON.parse(blocked.stdout)).toMatchObject({ variant: 'prefix', tuned: null });
    expect(JSON.stringify(JSON.parse(blocked.stdout).variant_params)).toContain('"block":64');
  });

  it('a local agent of its own by default, recorded under class local', async () => {
    const r = await runCli(
      HOST_CLI,
      exportArgs(32, [
        '--tune',
        '--variants',
        'direct,chunked',
        '--block',
        '4',
        '--settings',
        SETTINGS,
        '--json',
        '--out',
        path.join(dir, 'local.onnx'),
      ]),
      { timeoutMs: 60_000 },
    );
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.tuning).toMatchObject({
      device_class: 'local',
      agent: 'local',
      options: [{ label: 'chunked T=4', ratio: 1 }, { label: 'direct' }],
    });
    expect(s.tuning.options[1].ratio_ci).toHaveLength(2);
    expect(s.tuned).toMatchObject({ device_class: 'local', label: s.tuning.label });
    expect(s.variant).toBe(s.tuning.variant);
    // Step mode: its layouts paired against auto's (packed).
    const step = await runCli(
      HOST_CLI,
      [
        'export',
        '--checkpoint',
        ckpt,
        '--mode',
        'step',
        '--workspace',
        ws,
        '--backend',
        'cpu',
        '--tune',
        '--settings',
        SETTINGS,
        '--json',
      ],
      { timeoutMs: 60_000 },
    );
    expect(step.code).toBe(0);
    const st = JSON.parse(step.stdout).tuning;
    expect(st).toMatchObject({
      reference: 'packed',
      shape: { mode: 'step', length: null },
      options: [{ label: 'packed', ratio: 1, job_id: null }, { label: 'recurrent' }],
    });
    expect(['packed', 'recurrent']).toContain(st.label);
  });

  it.each([
    [
      ['export', '--mode', 'conv', '--tune', '--workspace', ws],
      /--tune measures the exports of a model: give --checkpoint DIR/,
    ],
    [
      exportArgs(32, ['--tune', '--agent', 'nowhere', '--wait-agent-ms', '1000']),
      /no agent named "nowhere" connected within 1000 ms/,
    ],
    [
      exportArgs(32, ['--tune', '--tag', 'mars', '--wait-agent-ms', '1000', ...viaServer()]),
      /no_agent: no agent tagged "mars" connected within 1000 ms/,
    ],
    [exportArgs(32, ['--tune', '--variant', 'direct']), /--tune chooses the variant: drop --variant direct/],
    [
      exportArgs(32, ['--tune', '--variants', 'winograd']),
      /unknown conv variant "winograd" to tune; known: chunked, prefix, scan, toeplitz, fft, direct/,
    ],
    [exportArgs(32, ['--variants', 'direct', '--out', path.join(dir, 'x.onnx')]), /--variants is for --tune/],
    [exportArgs(32, ['--tune', '--agent', 'a', '--tag', 'b']), /give --agent or --tag, not both/],
    [exportArgs(32, ['--tune', '--device-class', 'two words']), /device class "two words" must be/],
    [exportArgs(32, []), /give --out FILE/],
  ])('rejects %j with a clear error', async (args, message) => {
    const r = await runCli(HOST_CLI, withUrl(args), { timeoutMs: 30_000 });
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
