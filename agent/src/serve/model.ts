/**
 * The active model loaded for serving, through the same runtime seam as the measurements. A step-mode
 * export is recognised by its recurrent state inputs: each input `S` with an output `S_next`. A model
 * being replaced is disposed only once the requests still running on it are done.
 */
import { readFile } from 'node:fs/promises';
import type { RuntimeName } from '@s4op/shared';
import { runtimeByName } from '../runtimes/registry.js';
import type { Feeds, InputInfo, PlainTensor, Session } from '../runtimes/runtime.js';

export interface ServeLoadOptions {
  runtime: RuntimeName;
  threads: number;
}

export class ServedModel {
  private inflight = 0;
  private retired = false;
  readonly inputs: InputInfo[];
  readonly outputs: string[];
  /** Recurrent states (step mode): input name → output name. */
  readonly states: { input: string; output: string }[];

  private constructor(
    readonly sha256: string,
    readonly runtime: RuntimeName,
    private readonly session: Session,
  ) {
    this.inputs = session.inputs();
    this.outputs = session.outputNames();
    this.states = this.inputs
      .filter((i) => this.outputs.includes(`${i.name}_next`))
      .map((i) => ({ input: i.name, output: `${i.name}_next` }));
  }

  static async load(sha256: string, file: string, opts: ServeLoadOptions): Promise<ServedModel> {
    const bytes = await readFile(file);
    const session = await runtimeByName(opts.runtime).load(bytes, {
      threads: opts.threads,
      graph_optimization: 'all',
      arena: true,
    });
    return new ServedModel(sha256, opts.runtime, session);
  }

  get isStep(): boolean {
    return this.states.length > 0;
  }

  /** Inputs a caller feeds (the states are the session's business in step mode). */
  get dataInputs(): InputInfo[] {
    return this.inputs.filter((i) => !this.states.some((s) => s.input === i.name));
  }

  async infer(feeds: Feeds): Promise<Record<string, PlainTensor>> {
    this.inflight++;
    try {
      return await this.session.infer(feeds);
    } finally {
      this.inflight--;
      if (this.retired && this.inflight === 0) await this.session.dispose().catch(() => undefined);
    }
  }

  /** No new requests reach it after this; the session goes once the running ones finish. */
  async retire(): Promise<void> {
    this.retired = true;
    if (this.inflight === 0) await this.session.dispose().catch(() => undefined);
  }

  describe() {
    return {
      sha256: this.sha256,
      runtime: this.runtime,
      mode: this.isStep ? 'step' : 'conv',
      inputs: this.inputs.map((i) => ({
        name: i.name,
        dtype: i.dtype ?? null,
        shape: i.shape,
        state: this.states.some((s) => s.input === i.name),
      })),
      outputs: this.outputs,
    };
  }
}
