/**
 * A new agent and a host from before the optional measurement fields: that host validates results with the
 * Measurement schema as it was (strict objects, no background_load, device_peak, declared_flops, …), so it
 * refuses the first result naming the unknown field. The real agent process must then send its result
 * without them, and the job completes. The host here is a plain WebSocket server speaking protocol 1.
 */
import { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import {
  MEASUREMENT_EXTENSIONS,
  MODEL_FIGURES_EXTENSIONS,
  Measurement,
  ModelFigures,
  PROTOCOL_VERSION,
  encodeModel,
  resolveSettings,
  sha256Hex,
} from '../../shared/dist/index.js';
import { initBackend } from '../../host/src/backend.js';
import { exportModel } from '../../host/src/export/export.js';
import { SequenceModel } from '../../host/src/model/model.js';
import { tmpDir } from '../helpers/fleet.js';
import { AGENT_CLI, killAll, startCli, type LiveProcess } from '../helpers/processes.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const omit = <T extends readonly string[]>(keys: T) => Object.fromEntries(keys.map((k) => [k, true as const]));
const OldModelFigures = ModelFigures.omit(omit(MODEL_FIGURES_EXTENSIONS) as never);
const OldMeasurement = Measurement.omit(omit(MEASUREMENT_EXTENSIONS) as never).extend({
  models: z.array(OldModelFigures).min(1).max(2),
});
const OldResult = z.strictObject({
  type: z.literal('result'),
  job_id: z.string(),
  measurement: OldMeasurement.nullable(),
  error: z.unknown(),
});

let agent: LiveProcess | undefined;
let wss: WebSocketServer | undefined;
afterAll(async () => {
  await agent?.stop();
  wss?.close();
  killAll();
});

describe('an agent and a host from before the optional measurement fields', () => {
  it('sends its result again without them when the host refuses one, and the job completes', async () => {
    await initBackend('cpu');
    const model = new SequenceModel(tinyConfig({ dModel: 8, dState: 4 }), 2);
    const bytes = exportModel(model, { mode: 'conv', length: 32 }).bytes;
    model.dispose();
    const sha = sha256Hex(bytes);
    const refusals: string[] = [];
    const accepted = new Promise<z.infer<typeof OldResult>>((resolve) => {
      wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      wss.on('connection', (ws: WebSocket) => {
        const send = (m: unknown) => ws.send(JSON.stringify(m));
        ws.on('message', (data, binary) => {
          if (binary) return;
          const m = JSON.parse(data.toString()) as { type: string; sha256?: string };
          if (m.type === 'hello') {
            send({ type: 'welcome', protocol: PROTOCOL_VERSION, host_version: '0.1.0', heartbeat_ms: 5000 });
            send({
              type: 'job',
              job_id: 'old-host-1',
              mode: 'single',
              models: [{ sha256: sha, size: bytes.length }],
              settings: resolveSettings({ warmup_ms: 10, warmup_runs: 2, min_duration_ms: 100, min_samples: 10 }),
            });
          } else if (m.type === 'need_model') {
            for (const frame of encodeModel(bytes)) ws.send(frame);
          } else if (m.type === 'result') {
            const r = OldResult.safeParse(m);
            if (!r.success) {
              // as the old host's parseWith reports it: the first issue, an unknown key as its dotted path
              const issue = r.error.issues[0]!;
              const field =
                issue.code === 'unrecognized_keys'
                  ? [...issue.path.map(String), issue.keys[0]].join('.')
                  : issue.path.join('.');
              refusals.push(field);
              send({ type: 'error', code: 'bad_field', message: `result: unknown field "${field}"`, field });
              return;
            }
            send({ type: 'ack', job_id: r.data.job_id });
            resolve(r.data);
          }
        });
      });
    });
    await new Promise((r) => wss!.once('listening', r));
    const url = `ws://127.0.0.1:${(wss!.address() as AddressInfo).port}`;
    agent = startCli(AGENT_CLI, ['--host', url, '--name', 'new-agent', '--cache-dir', tmpDir('s4op-legacy-agent-')], {
      env: { S4OP_TOKEN: 'old' },
    });

    const result = await accepted;
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals[0]).toMatch(
      /^measurement\.(background_load|device_peak|models\.0\.(declared_flops|achieved_gflops|peak_fraction))$/,
    );
    const m = result.measurement!;
    expect(m.models[0]!.sha256).toBe(sha);
    for (const k of MEASUREMENT_EXTENSIONS) expect(k in m).toBe(false);
    for (const k of MODEL_FIGURES_EXTENSIONS) expect(k in m.models[0]!).toBe(false);
    await agent.waitFor(/sending results without them/);
  });
});
