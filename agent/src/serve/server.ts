/**
 * The local inference API: applications on the board run the deployed (active) model over HTTP, bound to
 * loopback unless told otherwise.
 *   GET    /v1/model                 the active model (hash, runtime, inputs, outputs, mode) and the previous one
 *   POST   /v1/infer                 JSON {inputs: {name: {dims, data}}} → {model, outputs}; or raw bytes
 *                                    (application/octet-stream, ?input=x&shape=1,40,2[&output=logits]) → raw bytes
 *   POST   /v1/sessions              step-mode models: {batch?} → {id} with zero states
 *   POST   /v1/sessions/:id/step     one time step {inputs}; the recurrent state stays here between calls
 *   POST   /v1/sessions/:id/reset    states back to zero
 *   DELETE /v1/sessions/:id
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyLimitError, boundedBodyReader, parseJsonObject, sendJson, type ActiveModelState } from '@s4op/shared';
import type { ServedModel } from './model.js';
import { StepSessions } from './sessions.js';
import {
  ServeError,
  checkFeedNames,
  parseShape,
  tensorBytes,
  tensorFromBytes,
  tensorFromJson,
  tensorToJson,
} from './tensors.js';
import type { Feeds, InputInfo, PlainTensor } from '../runtimes/runtime.js';

/** A hard ceiling whatever the model: a board has 1–8 GB and the agent's link must keep running. */
const MAX_BODY_BYTES = 64 * 2 ** 20;
/** JSON bytes allowed per element: "-1.2345678901234567e-300," is 25; room for spaces and the envelope. */
const JSON_BYTES_PER_ELEMENT = 32;
const JSON_ENVELOPE_BYTES = 64 * 1024;
/** Largest element count of one input when its shape is dynamic (a step or a short sequence, not a corpus). */
const DYNAMIC_INPUT_ELEMENTS = 1 << 20;

/** Elements an input can hold: exact for a fixed shape, bounded for a dynamic one. */
function inputElements(input: InputInfo): number {
  if (input.shape.every((d) => typeof d === 'number' && d >= 0))
    return (input.shape as number[]).reduce((a, b) => a * b, 1);
  return DYNAMIC_INPUT_ELEMENTS;
}

/** The largest body a request for this model can need (JSON or raw bytes), under the hard ceiling. */
export function bodyLimit(model: { inputs: InputInfo[] } | null, binary: boolean): number {
  if (!model) return JSON_ENVELOPE_BYTES;
  const elements = model.inputs.reduce((a, i) => a + inputElements(i), 0);
  const need = binary ? elements * 8 : elements * JSON_BYTES_PER_ELEMENT + JSON_ENVELOPE_BYTES;
  return Math.min(MAX_BODY_BYTES, need);
}

export interface InferenceServerOptions {
  port: number;
  bind?: string;
  /** The agent's deployed-model state, for GET /v1/model. */
  state: () => ActiveModelState;
  log?: (line: string) => void;
}

/** Bodies read at once (a slow or stalled client holds one); one more gets 503. */
const MAX_CONCURRENT_BODIES = 8;
const read = boundedBodyReader(MAX_CONCURRENT_BODIES);

/** Reads a body of at most `max` bytes: a declared length above it is refused before a byte is read. */
async function readBody(req: http.IncomingMessage, max = JSON_ENVELOPE_BYTES): Promise<Buffer> {
  try {
    return await read(req, max, `the active model's inputs need at most ${max} bytes per request`);
  } catch (err) {
    if (err instanceof BodyLimitError) throw new ServeError(err.code, err.message, err.status);
    throw err;
  }
}

/** The body as a JSON object (empty: `{}`). */
const parseJson = (body: Buffer): Record<string, unknown> =>
  parseJsonObject(body, (message) => new ServeError('bad_json', message));

/** Feeds from `{inputs: {...}}`, every one of `inputs` required. */
function jsonFeeds(inputs: InputInfo[], body: Record<string, unknown>): Feeds {
  const given = body.inputs;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new ServeError(
      'bad_input',
      `body needs "inputs": {${inputs.map((i) => `"${i.name}": {"dims": [...], "data": [...]}`).join(', ')}}`,
    );
  }
  checkFeedNames(inputs, Object.keys(given));
  const feeds: Feeds = {};
  for (const input of inputs) feeds[input.name] = tensorFromJson(input, (given as Record<string, unknown>)[input.name]);
  return feeds;
}

const outputsJson = (outputs: Record<string, PlainTensor>) =>
  Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, tensorToJson(t)]));

export class InferenceServer {
  private server: http.Server | null = null;
  private model: ServedModel | null = null;
  readonly sessions = new StepSessions();
  private readonly log: (line: string) => void;

  constructor(private readonly opts: InferenceServerOptions) {
    this.log = opts.log ?? (() => undefined);
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null;
    if (!a) throw new Error('inference API not started');
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  get active(): ServedModel | null {
    return this.model;
  }

  /** Serves `model` from now on; the one before finishes its running requests, then goes. */
  async setModel(model: ServedModel | null): Promise<void> {
    const old = this.model;
    this.model = model;
    if (old && old !== model) await old.retire();
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        const e =
          err instanceof ServeError
            ? err
            : new ServeError('internal', err instanceof Error ? err.message : String(err), 500);
        if (e.status >= 500) this.log(`inference API: ${req.method} ${req.url}: ${e.message}`);
        if (!res.headersSent) sendJson(res, e.status, { error: { code: e.code, message: e.message } });
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.bind ?? '127.0.0.1', () => resolve());
    });
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    await this.setModel(null);
  }

  private need(): ServedModel {
    if (!this.model)
      throw new ServeError(
        'no_active_model',
        'no model is deployed to this agent yet (or it failed to load): deploy one with s4op deploy',
        503,
      );
    return this.model;
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    if (parts[0] !== 'v1') throw new ServeError('not_found', `no route ${method} ${url.pathname}`, 404);
    const route = parts.slice(1);

    if (method === 'GET' && route.join('/') === 'model') {
      const state = this.opts.state();
      sendJson(res, 200, {
        ...(this.model ? this.model.describe() : { sha256: null }),
        deployment: state.active,
        previous: state.previous,
        sessions: this.sessions.size,
      });
      return;
    }
    if (method === 'POST' && route.join('/') === 'infer') {
      const model = this.need();
      const binary = (req.headers['content-type'] ?? '').startsWith('application/octet-stream');
      const body = await readBody(req, bodyLimit(model, binary));
      if (binary) {
        await this.inferBinary(model, url, body, res);
        return;
      }
      const json = parseJson(body);
      const given = typeof json.inputs === 'object' && json.inputs !== null ? Object.keys(json.inputs) : [];
      if (model.isStep && model.states.some((s) => !given.includes(s.input))) {
        throw new ServeError(
          'bad_input',
          `the active model is a step-mode export: open a session (POST /v1/sessions) and send one time step at a time, or pass every state (${model.states.map((s) => s.input).join(', ')})`,
        );
      }
      const outputs = await this.run(model, jsonFeeds(model.inputs, json));
      sendJson(res, 200, { model: model.sha256, outputs: outputsJson(outputs) });
      return;
    }
    if (route[0] === 'sessions') {
      if (method === 'POST' && route.length === 1) {
        const body = parseJson(await readBody(req));
        sendJson(res, 201, {
          ...this.sessions.open(this.need(), body.batch === undefined ? 1 : (body.batch as number)),
          model: this.model!.sha256,
        });
        return;
      }
      const id = route[1] ?? '';
      if (method === 'POST' && route.length === 3 && route[2] === 'step') {
        const model = this.need();
        this.sessions.check(id, model);
        const feeds = jsonFeeds(
          model.dataInputs,
          parseJson(await readBody(req, bodyLimit({ inputs: model.dataInputs }, false))),
        );
        const r = await this.sessions.step(id, this.model, feeds).catch((err: unknown) => {
          throw err instanceof ServeError
            ? err
            : new ServeError('run_failed', `step failed: ${err instanceof Error ? err.message : String(err)}`, 422);
        });
        sendJson(res, 200, { id, step: r.step, model: model.sha256, outputs: outputsJson(r.outputs) });
        return;
      }
      if (method === 'POST' && route.length === 3 && route[2] === 'reset') {
        sendJson(res, 200, this.sessions.resetSession(id, this.model));
        return;
      }
      if (method === 'DELETE' && route.length === 2) {
        if (!this.sessions.delete(id)) throw new ServeError('unknown_session', `no session "${id}"`, 404);
        sendJson(res, 200, { id, deleted: true });
        return;
      }
    }
    throw new ServeError('not_found', `no route ${method} ${url.pathname}`, 404);
  }

  private async run(model: ServedModel, feeds: Feeds): Promise<Record<string, PlainTensor>> {
    if (model.isStep && model.states.some((s) => !(s.input in feeds))) {
      throw new ServeError(
        'bad_input',
        'the active model is a step-mode export: open a session (POST /v1/sessions) and send one time step at a time',
      );
    }
    try {
      return await model.infer(feeds);
    } catch (err) {
      throw new ServeError(
        'run_failed',
        `the runtime rejected the inputs: ${err instanceof Error ? err.message : String(err)}`,
        422,
      );
    }
  }

  private async inferBinary(model: ServedModel, url: URL, body: Buffer, res: http.ServerResponse): Promise<void> {
    const named = url.searchParams.get('input');
    if (!named && model.inputs.length !== 1) {
      throw new ServeError(
        'bad_input',
        `raw bytes feed one input: name it with ?input= (inputs: ${model.inputs.map((i) => i.name).join(', ')}), or send JSON`,
      );
    }
    const input = named ? model.inputs.find((i) => i.name === named) : model.inputs[0];
    if (!input)
      throw new ServeError(
        'unknown_input',
        `the model has no input "${named}" (inputs: ${model.inputs.map((i) => i.name).join(', ')})`,
      );
    checkFeedNames(model.inputs, [input.name]);
    const feeds = {
      [input.name]: tensorFromBytes(input, body, parseShape(url.searchParams.get('shape'), `input "${input.name}"`)),
    };
    const outputs = await this.run(model, feeds);
    const want = url.searchParams.get('output') ?? model.outputs[0]!;
    // Own names only: "__proto__" or "constructor" must not reach Object.prototype.
    const out = Object.prototype.hasOwnProperty.call(outputs, want) ? outputs[want] : undefined;
    if (!out)
      throw new ServeError(
        'unknown_output',
        `the model has no output "${want}" (outputs: ${model.outputs.join(', ')})`,
      );
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'x-s4op-model': model.sha256,
      'x-s4op-output': want,
      'x-s4op-dtype': out.dtype,
      'x-s4op-shape': out.dims.join(','),
    });
    res.end(tensorBytes(out));
  }
}
