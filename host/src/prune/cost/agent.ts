/**
 * Measured cost: each candidate is exported to ONNX (conv or step mode) and timed by an agent. Without a
 * named agent or tag, a local agent process is started on loopback; with one, agents dial this run's
 * embedded server (or a running `s4op serve` is used through its HTTP API). The job id is derived from the
 * model hash and settings, so a repeated job (after a restart or a reconnect) is answered, not re-run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { quantile, resolveSettings, sha256Hex, type Measurement, type MeasureSettings } from '@s4op/shared';
import { exportModel, type ExportMode } from '../../export/export.js';
import { modelTuneShape, tunedVariant } from '../../export/tuned.js';
import { startFleet, type Fleet } from '../../fleet/fleet.js';
import { ServerCallError, hostApi, serverRef } from '../../fleet/http/client.js';
import { JobFailed, type JobOutcome } from '../../fleet/link/jobs.js';
import { localAgentCli } from '../../fleet/link/local-agent.js';
import type { SequenceModel } from '../../model/model.js';
import { canonicalJson, type RunStore } from '../../store/run-store.js';
import type { CostFigures, CostMeasurer, PairFigures, PrepareOptions, PreparedModel } from './cost.js';
import { expectedMeasureMs, waitWithProgress } from '../../util/progress-wait.js';

export interface AgentMeasurerOptions {
  mode: ExportMode;
  /** Sequence length of conv-mode exports. */
  length: number;
  variant?: string;
  /** Measurement settings (any subset; defaults fill the rest). */
  settings?: unknown;
  /** A named agent or any agent with a tag; neither: a local agent on loopback. Several tags (a,b) are device
   *  classes: each candidate is measured on one agent of every class and the classes' figures combine by
   *  `classQuantile` (1: the worst class, so a budget holds for every class). */
  agent?: string;
  tag?: string;
  classQuantile?: number;
  /** A running `s4op serve` (its URL and token) instead of the embedded server. */
  server?: { url: string; token: string };
  /** Embedded server, for remote agents to dial. */
  port?: number;
  bind?: string;
  token?: string;
  /** The local agent's cache (model store, id, undelivered results). */
  cacheDir: string;
  waitForAgentMs?: number;
  /** Tag targets: how long a job's agent may stay away before the job also goes to another agent of the tag. */
  failoverMs?: number;
  heartbeatMs?: number;
  source?: { checkpoint?: string; weightsSha256?: string };
  log?: (line: string) => void;
  /** No progress bar while a measurement runs (--json). */
  quiet?: boolean;
  /** With variant auto: export as the newest tuning of this device class for the model's shape says, if any. */
  tuning?: { store: RunStore; deviceClass: string };
}

// Keeps the local agent from outliving the host: it runs under this watchdog, which stops it when its stdin
// (a pipe from the host) closes, as it does when the host exits for any reason, SIGKILL included.
const WATCHDOG = `
const { spawn } = require('node:child_process');
const [cli, ...args] = process.argv.slice(1);
const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
const stop = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); };
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
child.on('exit', (code) => process.exit(code ?? 1));
`;

export class AgentMeasurer implements CostMeasurer {
  readonly kind = 'measured' as const;
  readonly agent: string;
  readonly settings: MeasureSettings;
  private child: ChildProcess | null = null;
  private exited: string | null = null;

  private constructor(
    private readonly opts: AgentMeasurerOptions,
    private readonly fleet: Fleet | null,
  ) {
    this.settings = resolveSettings(opts.settings ?? {});
    this.classes = opts.tag ? opts.tag.split(',').map((t) => t.trim()) : [];
    const q = opts.classQuantile ?? 1;
    this.agent =
      opts.agent ??
      (this.classes.length > 1 ? `tags:${this.classes.join(',')}@q${q}` : opts.tag ? `tag:${opts.tag}` : 'local');
  }

  private readonly classes: string[];

  static async start(opts: AgentMeasurerOptions): Promise<AgentMeasurer> {
    if (opts.agent && opts.tag) throw new Error('give an agent or a tag, not both');
    if (opts.tag !== undefined && opts.tag.split(',').some((t) => !/^[\w.-]{1,64}$/.test(t.trim())))
      throw new Error(`tags must be names separated by commas, got "${opts.tag}"`);
    const q = opts.classQuantile ?? 1;
    if (!(q >= 0 && q <= 1)) throw new Error(`class quantile must be in [0, 1], got ${q}`);
    resolveSettings(opts.settings ?? {});
    if (opts.server) return new AgentMeasurer(opts, null);
    const token = opts.token ?? randomBytes(16).toString('hex');
    // A long heartbeat: fine-tuning blocks the event loop between measurements.
    const fleet = await startFleet({
      port: opts.port ?? 0,
      bind: opts.bind ?? '127.0.0.1',
      token,
      heartbeatMs: opts.heartbeatMs ?? 15_000,
      log: opts.log ?? (() => undefined),
    });
    const m = new AgentMeasurer(opts, fleet);
    if (!opts.agent && !opts.tag) m.spawnLocal(fleet.server.url, token);
    else opts.log?.(`waiting for agent ${opts.agent ?? `tagged ${opts.tag}`} to dial ${fleet.server.url}`);
    return m;
  }

  private spawnLocal(url: string, token: string): void {
    const args = [
      '-e',
      WATCHDOG,
      '--',
      localAgentCli(),
      '--host',
      url,
      '--name',
      'local',
      '--cache-dir',
      this.opts.cacheDir,
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, S4OP_TOKEN: token },
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      for (const line of d.split('\n')) if (line.trim()) this.opts.log?.(`  [agent] ${line}`);
    });
    child.on('exit', (code, sig) => (this.exited = `local agent exited (${sig ?? code})`));
    this.child = child;
  }

  /** The device class measured: the one tag, else the agent's name (or 'local'); null with several classes. */
  get deviceClass(): string | null {
    return this.classes.length > 1 ? null : (this.classes[0] ?? this.opts.agent ?? 'local');
  }

  prepare(model: SequenceModel, name: string, opts: PrepareOptions = {}): PreparedModel {
    const t = this.opts.tuning;
    const tuned =
      t && (this.opts.variant ?? 'auto') === 'auto'
        ? tunedVariant(t.store, t.deviceClass, modelTuneShape(model, this.opts.mode, this.opts.length))
        : undefined;
    const r = exportModel(model, {
      mode: this.opts.mode,
      length: this.opts.length,
      variant: tuned?.variant ?? this.opts.variant,
      variantOptions: tuned?.variant_options,
      source: this.opts.source,
      precision: opts.precision,
    });
    return { model_sha256: sha256Hex(r.bytes), bytes: r.bytes, name: `${name}.onnx` };
  }

  async measure(p: PreparedModel): Promise<CostFigures> {
    return this.onEveryClass([p], `m-${p.model_sha256.slice(0, 24)}-${this.settingsTag()}`, figures, combineClasses);
  }

  /** One A/B job: the reference (A) and the candidate (B) interleaved on the same agent. */
  async measurePair(reference: PreparedModel, candidate: PreparedModel, attempt: number): Promise<PairFigures> {
    // The job id names the pair and the attempt: a repeated job (restart, reconnect) is answered, a re-measure is new.
    const job_id = `p-${candidate.model_sha256.slice(0, 16)}-${reference.model_sha256.slice(0, 8)}-${this.settingsTag()}-a${attempt}`;
    return this.onEveryClass([reference, candidate], job_id, pairFigures, combinePairClasses);
  }

  /** One job on this measurer's agent or tag; with several device classes one per class, combined at the class quantile. */
  private async onEveryClass<T>(
    models: PreparedModel[],
    job_id: string,
    read: (m: Measurement, agentName: string) => T,
    combine: (classes: readonly string[], perClass: readonly T[], q: number) => T,
  ): Promise<T> {
    const one = async (id: string, tag: string | undefined) => {
      const o = await this.measureOn(models, id, tag);
      return read(o.measurement, o.agent.name);
    };
    if (this.classes.length <= 1) return one(job_id, this.opts.tag);
    const perClass = await Promise.all(this.classes.map((t) => one(`${job_id}-${t}`, t)));
    return combine(this.classes, perClass, this.opts.classQuantile ?? 1);
  }

  /**
   * Where the time goes: one job with onnxruntime's profiling pass after the timed runs (settings.profile),
   * on this measurer's agent (the first class of several). Its settings differ, so it never answers for a
   * timing job and is cached apart.
   */
  async profile(p: PreparedModel): Promise<CostFigures> {
    const settings = this.profileSettings;
    const tag = this.classes[0] ?? this.opts.tag;
    const o = await this.measureOn(
      [p],
      `pf-${p.model_sha256.slice(0, 24)}-${this.settingsTag()}${tag ? `-${tag}` : ''}`,
      tag,
      settings,
    );
    return figures(o.measurement, o.agent.name);
  }

  get profileSettings(): MeasureSettings {
    return { ...this.settings, profile: true };
  }

  private settingsTag(): string {
    return sha256Hex(canonicalJson(this.settings)).slice(0, 12);
  }

  private async measureOn(
    models: PreparedModel[],
    job_id: string,
    tag: string | undefined,
    settings: MeasureSettings = this.settings,
  ): Promise<JobOutcome> {
    for (const p of models) if (!p.bytes) throw new Error(`agent measurement: ${p.name} has no model bytes`);
    const what = models.map((p) => p.name).join(' vs ');
    let outcome: JobOutcome;
    try {
      const work = this.fleet
        ? this.viaFleet(models, job_id, tag, settings)
        : this.viaServer(models, job_id, tag, settings);
      outcome = await waitWithProgress(
        work,
        `${settings.profile ? 'profile' : 'measure'} ${what} on ${tag ? `tag ${tag}` : this.agent}`,
        models.length * expectedMeasureMs(settings),
        { quiet: this.opts.quiet },
      );
    } catch (err) {
      if (err instanceof JobFailed)
        throw new Error(
          `measuring ${what} on ${tag ? `tag ${tag}` : this.agent}: ${err.code}: ${err.message}${this.exited ? ` (${this.exited})` : ''}`,
        );
      throw err;
    }
    return outcome;
  }

  /**
   * A named agent's job waits for that agent (the job manager re-sends it when the agent returns). A tag's
   * job also goes to another agent of the tag once its agent has been away `failoverMs`; the first result wins
   * and the other attempt is cancelled.
   */
  private viaFleet(
    models: PreparedModel[],
    job_id: string,
    tag: string | undefined,
    settings: MeasureSettings,
  ): Promise<JobOutcome> {
    const { jobs, server } = this.fleet!;
    const p = models[models.length - 1]!;
    const submit = (id: string, target: { agent?: string; tag?: string }) =>
      jobs.submit({
        target,
        models: models.map((m) => ({ bytes: m.bytes!, name: m.name })),
        settings,
        job_id: id,
        waitForAgentMs: this.opts.waitForAgentMs ?? 60_000,
      });
    if (!tag) return submit(job_id, this.opts.agent ? { agent: this.opts.agent } : { agent: 'local' });
    return new Promise<JobOutcome>((resolve, reject) => {
      const attempts: string[] = [];
      let open = 0;
      let settled = false;
      const timers = new Map<string, NodeJS.Timeout>();
      const cleanup = () => {
        server.off('agent_down', onDown);
        server.off('agent_up', onUp);
        for (const t of timers.values()) clearTimeout(t);
      };
      const start = (id: string, target: { agent?: string; tag?: string }) => {
        attempts.push(id);
        open += 1;
        submit(id, target).then(
          (out) => {
            open -= 1;
            if (settled) return;
            settled = true;
            cleanup();
            for (const other of attempts) if (other !== id) jobs.cancel(other);
            resolve(out);
          },
          (err: unknown) => {
            open -= 1;
            if (!settled && open === 0) {
              settled = true;
              cleanup();
              reject(err);
            }
          },
        );
      };
      const onDown = (agent: { id: string; name: string }) => {
        const mine = jobs.list().filter((j) => attempts.includes(j.job_id));
        if (settled || !mine.length || !mine.every((j) => j.agent === agent.name) || timers.has(agent.name)) return;
        timers.set(
          agent.name,
          setTimeout(() => {
            timers.delete(agent.name);
            if (settled) return;
            const other = server.agents().find((a) => a.tags.includes(tag) && a.name !== agent.name);
            if (!other) return; // none to move to: the job waits for its agent (or any) within its deadline
            this.opts.log?.(
              `agent ${agent.name} away ${this.opts.failoverMs ?? 10_000} ms: measuring ${p.name} on ${other.name} instead`,
            );
            start(`${job_id}-f${attempts.length}`, { agent: other.id });
          }, this.opts.failoverMs ?? 10_000),
        );
      };
      const onUp = (agent: { name: string }) => {
        const t = timers.get(agent.name);
        if (t) clearTimeout(t);
        timers.delete(agent.name);
      };
      server.on('agent_down', onDown);
      server.on('agent_up', onUp);
      start(job_id, { tag });
    });
  }

  private async viaServer(
    models: PreparedModel[],
    job_id: string,
    tag: string | undefined,
    settings: MeasureSettings,
  ): Promise<JobOutcome> {
    const p = models[models.length - 1]!;
    const { url, token } = this.opts.server!;
    const ref = serverRef(url, token);
    try {
      return await hostApi.measure(ref, {
        agent: this.opts.agent,
        tag,
        job_id,
        settings,
        wait_for_agent_ms: this.opts.waitForAgentMs ?? 60_000,
        models: models.map((m) => ({ name: m.name, base64: Buffer.from(m.bytes!).toString('base64') })),
      });
    } catch (err) {
      if (err instanceof ServerCallError)
        throw new Error(`measuring ${p.name} via ${ref.base.origin}: ${err.code}: ${err.message}`);
      throw err;
    }
  }

  /**
   * One A/B job (A first, the two models' runs interleaved) on this measurer's agent, or on one agent of its
   * tag (the first of several): what the export tuner compares variants by. A fresh job each call.
   */
  async compare(a: PreparedModel, b: PreparedModel): Promise<JobOutcome> {
    const job_id = `ab-${a.model_sha256.slice(0, 12)}-${b.model_sha256.slice(0, 12)}-${randomBytes(4).toString('hex')}`;
    return this.measureOn([a, b], job_id, this.classes[0] ?? this.opts.tag);
  }

  async close(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.stdin?.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(killer);
    }
    await this.fleet?.stop();
  }
}

/** The figures the search keeps from an agent's measurement of one model. */
export function figures(m: Measurement, agentName: string): CostFigures {
  const model = m.models[0]!;
  return {
    p50_ms: model.latency_ms.median,
    p90_ms: model.latency_ms.p90,
    rss_mb: m.memory_mb?.peak_rss ?? null,
    runtime: `${m.runtime.name} ${m.runtime.version}`,
    statistics: model.latency_ms,
    memory: m.memory_mb,
    thermal: m.thermal,
    throttled: m.thermal.throttled,
    measured_by: agentName,
    raw: m,
  };
}

/** The figures of a paired job (models: [reference, candidate]): the candidate's own and the ratio B/A. */
export function pairFigures(m: Measurement, agentName: string): PairFigures {
  if (m.mode !== 'ab' || m.models.length !== 2 || !m.ratio)
    throw new Error('a paired measurement needs an A/B result with its ratio');
  const b: Measurement = { ...m, models: [m.models[1]!] };
  return {
    candidate: { ...figures(b, agentName), raw: m },
    reference_p50_ms: m.models[0]!.latency_ms.median,
    ratio: m.ratio.median,
    ratio_low: Math.min(m.ratio.median, m.ratio.median_ci.low),
    ratio_high: Math.max(m.ratio.median, m.ratio.median_ci.high),
    busy: m.background_load ? m.background_load.busy : null,
  };
}

/** Paired figures per device class, combined at quantile q over the classes (ratio, interval ends and absolutes alike). */
export function combinePairClasses(
  classes: readonly string[],
  perClass: readonly PairFigures[],
  q: number,
): PairFigures {
  const at = (f: (p: PairFigures) => number) => quantile(perClass.map(f), q);
  return {
    candidate: combineClasses(
      classes,
      perClass.map((p) => p.candidate),
      q,
    ),
    reference_p50_ms: at((p) => p.reference_p50_ms),
    ratio: at((p) => p.ratio),
    ratio_low: Math.min(
      at((p) => p.ratio_low),
      at((p) => p.ratio),
    ),
    ratio_high: Math.max(
      at((p) => p.ratio_high),
      at((p) => p.ratio),
    ),
    busy: perClass.some((p) => p.busy === true) ? true : perClass.every((p) => p.busy === false) ? false : null,
  };
}

/** One figure per device class, combined at quantile q over the classes (q = 1: the worst class). */
export function combineClasses(classes: readonly string[], perClass: readonly CostFigures[], q: number): CostFigures {
  const rss = perClass.map((f) => f.rss_mb).filter((v): v is number => v != null);
  return {
    p50_ms: quantile(
      perClass.map((f) => f.p50_ms),
      q,
    ),
    p90_ms: quantile(
      perClass.map((f) => f.p90_ms),
      q,
    ),
    rss_mb: rss.length ? quantile(rss, q) : null,
    runtime: [...new Set(perClass.map((f) => f.runtime))].join(', '),
    throttled: perClass.some((f) => f.throttled),
    measured_by: classes.map((c, i) => `${c}:${perClass[i]!.measured_by}`).join(','),
    statistics: Object.fromEntries(
      classes.map((c, i) => [
        c,
        { p50_ms: perClass[i]!.p50_ms, p90_ms: perClass[i]!.p90_ms, rss_mb: perClass[i]!.rss_mb },
      ]),
    ),
    thermal: Object.fromEntries(classes.map((c, i) => [c, perClass[i]!.thermal])),
    raw: Object.fromEntries(classes.map((c, i) => [c, perClass[i]!.raw])),
  };
}
