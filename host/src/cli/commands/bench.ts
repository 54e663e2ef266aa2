import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_SETTINGS, KNOWN_RUNTIMES, resolveSettings, type MeasureSettings } from '@s4op/shared';
import { UserError, emit, log } from '../util.js';
import { addAgentTargetOptions, agentTarget, type AgentTargetFlags } from '../options.js';
import { startFleet } from '../../fleet/fleet.js';
import { ServerCallError, hostApi, serverRef } from '../../fleet/http/client.js';
import { formatMeasurement } from '../../fleet/link/format.js';
import { JobFailed, jobIdProblem, type JobOutcome } from '../../fleet/link/jobs.js';
import { spawnLocalAgent } from '../../fleet/link/local-agent.js';
import { expectedMeasureMs, waitWithProgress } from '../../util/progress-wait.js';

interface BenchOptions extends AgentTargetFlags {
  model: string;
  modelB?: string;
  json?: boolean;
  runtime?: string;
  threads?: string;
  graphOptimization?: string;
  arena: boolean;
  spin: boolean;
  profile?: boolean;
  warmupMs?: string;
  warmupRuns?: string;
  minDurationMs?: string;
  minSamples?: string;
  maxSamples?: string;
  dims?: string;
  timeoutMs?: string;
  settings?: string;
  waitAgentMs: string;
  jobId?: string;
}

const int = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UserError(`${flag} must be an integer, got "${v}"`);
  return n;
};

function settingsFrom(o: BenchOptions): MeasureSettings {
  let base: Record<string, unknown> = {};
  if (o.settings) {
    try {
      base = JSON.parse(o.settings) as Record<string, unknown>;
    } catch (err) {
      throw new UserError(`--settings is not JSON: ${(err as Error).message}`);
    }
  }
  const dims: Record<string, number> = {};
  for (const pair of (o.dims ?? '').split(',').filter(Boolean)) {
    const [k, v] = pair.split('=');
    const n = Number(v);
    if (!k || !Number.isInteger(n))
      throw new UserError(`--dims takes name=integer pairs like batch=4,seq=128; got "${pair}"`);
    dims[k] = n;
  }
  const flags: Record<string, unknown> = {
    runtime: o.runtime,
    threads: int('--threads', o.threads),
    graph_optimization: o.graphOptimization,
    arena: o.arena === false ? false : undefined,
    spin: o.spin === false ? false : undefined,
    profile: o.profile ? true : undefined,
    warmup_ms: int('--warmup-ms', o.warmupMs),
    warmup_runs: int('--warmup-runs', o.warmupRuns),
    min_duration_ms: int('--min-duration-ms', o.minDurationMs),
    min_samples: int('--min-samples', o.minSamples),
    max_samples: int('--max-samples', o.maxSamples),
    timeout_ms: int('--timeout-ms', o.timeoutMs),
    dims: Object.keys(dims).length ? dims : undefined,
  };
  const merged = { ...base, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) };
  try {
    return resolveSettings(merged);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

function readModel(file: string): { bytes: Buffer; name: string } {
  try {
    return { bytes: readFileSync(file), name: path.basename(file) };
  } catch (err) {
    throw new UserError(`--model ${file}: ${(err as Error).message}`);
  }
}

/** Runs the job through a running `s4op serve` over its HTTP API. */
async function viaServer(
  o: BenchOptions,
  models: { bytes: Buffer; name: string }[],
  settings: MeasureSettings,
): Promise<JobOutcome> {
  if (!(o.token ?? process.env.S4OP_TOKEN))
    throw new UserError("--server needs the server's token: --token T or S4OP_TOKEN");
  try {
    return await hostApi.measure(serverRef(o.server, o.token), {
      agent: o.agent,
      tag: o.tag,
      job_id: o.jobId,
      settings,
      wait_for_agent_ms: Number(o.waitAgentMs),
      models: models.map((m) => ({ name: m.name, base64: m.bytes.toString('base64') })),
    });
  } catch (err) {
    if (err instanceof ServerCallError) throw new UserError(`${err.code}: ${err.message}`);
    throw err;
  }
}

/** Starts a server on loopback for this one job and, unless a remote agent is named, a local agent. */
async function embedded(
  o: BenchOptions,
  models: { bytes: Buffer; name: string }[],
  settings: MeasureSettings,
): Promise<JobOutcome> {
  const token = o.token ?? process.env.S4OP_TOKEN ?? randomBytes(16).toString('hex');
  const fleet = await startFleet({
    port: agentTarget(o).port ?? 0,
    bind: o.bind,
    token,
    log: o.json ? () => undefined : log,
  });
  const local = !o.tag && (!o.agent || o.agent === 'local');
  let child: ReturnType<typeof spawnLocalAgent> | null;
  try {
    child = local
      ? spawnLocalAgent({
          url: fleet.server.url,
          token,
          name: 'local',
          cacheDir: path.join(os.tmpdir(), `s4op-bench-agent-${process.getuid?.() ?? 'user'}`),
          onLog: o.json ? undefined : (l) => log(`  [agent] ${l}`),
        })
      : null;
  } catch (err) {
    // No agent CLI to start: stop the server, or the process would stay up after the error.
    await fleet.stop();
    throw err;
  }
  if (!local) log(`waiting for agent ${o.agent ?? `tagged ${o.tag}`} at ${fleet.server.url}`);
  let exited: string | null = null;
  child?.on('exit', (code, sig) => (exited = `local agent exited (${sig ?? code})`));
  try {
    return await fleet.jobs.submit({
      target: local ? { agent: 'local' } : { agent: o.agent, tag: o.tag },
      models,
      settings,
      job_id: o.jobId,
      waitForAgentMs: Number(o.waitAgentMs),
    });
  } catch (err) {
    if (err instanceof JobFailed && exited) throw new UserError(`${err.message} (${exited})`);
    throw err;
  } finally {
    child?.kill('SIGTERM');
    await fleet.stop();
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('bench')
    .description('measure one ONNX model (or two, A/B interleaved) on an agent and print the figures')
    .requiredOption('--model <file>', 'ONNX model to measure (A in A/B mode)')
    .option('--model-b <file>', 'second model: paired A/B mode, runs interleaved, reports the ratio B/A')
    .option(
      '--runtime <name>',
      `auto or a runtime the agent has: ${KNOWN_RUNTIMES.join(', ')}, … (default ${DEFAULT_SETTINGS.runtime})`,
    )
    .option('--threads <n>', `intra-op / WASM threads (default ${DEFAULT_SETTINGS.threads})`)
    .option(
      '--graph-optimization <level>',
      `disabled, basic, extended, all (default ${DEFAULT_SETTINGS.graph_optimization})`,
    )
    .option('--no-arena', 'disable the CPU memory arena (onnxruntime-node)')
    .option(
      '--no-spin',
      "idle intra-op threads sleep instead of spinning (default: onnxruntime's, spinning; faster on a busy machine with --threads > 1)",
    )
    .option(
      '--profile',
      'after the timed runs, profile each model: time per node type and, for S4oP exports, per section (SSM, mixing, norms, rest) with GFLOP/s (onnxruntime-node)',
    )
    .option('--warmup-ms <n>', `minimum warm-up time (default ${DEFAULT_SETTINGS.warmup_ms})`)
    .option('--warmup-runs <n>', `minimum warm-up runs (default ${DEFAULT_SETTINGS.warmup_runs})`)
    .option('--min-duration-ms <n>', `minimum timed duration (default ${DEFAULT_SETTINGS.min_duration_ms})`)
    .option('--min-samples <n>', `minimum timed runs (default ${DEFAULT_SETTINGS.min_samples})`)
    .option('--max-samples <n>', `cap on timed runs (default ${DEFAULT_SETTINGS.max_samples})`)
    .option('--dims <k=v,...>', 'values of named dynamic dimensions, e.g. batch=4,seq=128')
    .option('--timeout-ms <n>', `per-job timeout on the agent (default ${DEFAULT_SETTINGS.timeout_ms})`)
    .option('--settings <json>', 'any measurement settings as JSON (flags win)')
    .option('--wait-agent-ms <n>', 'how long to wait for the agent to connect', '60000')
    .option('--job-id <id>', 'idempotent job id (default: a new UUID)')
    .option('--json', 'print JSON');
  addAgentTargetOptions(cmd, {
    agent: 'agent name or id (default without --server: a local agent on loopback)',
    tag: 'any agent with this tag',
    server: 'use a running `s4op serve` (http:// or ws:// URL of its port)',
  }).action(async (o: BenchOptions) => {
    agentTarget(o);
    const idProblem = o.jobId === undefined ? null : jobIdProblem(o.jobId);
    if (idProblem) throw new UserError(`--job-id: ${idProblem}`);
    const settings = settingsFrom(o);
    const models = [readModel(o.model), ...(o.modelB ? [readModel(o.modelB)] : [])];
    if (!o.json)
      log(
        `measuring ${models.map((m) => `${m.name} (${m.bytes.length} bytes)`).join(' vs ')}; settings ${JSON.stringify(settings)}`,
      );
    let outcome: JobOutcome;
    try {
      const work = o.server ? viaServer(o, models, settings) : embedded(o, models, settings);
      outcome = await waitWithProgress(work, 'measure', expectedMeasureMs(settings, models.length), { quiet: o.json });
    } catch (err) {
      if (err instanceof JobFailed) throw new UserError(`${err.code}: ${err.message}`);
      throw err;
    }
    emit(o, outcome, () =>
      formatMeasurement(
        outcome.measurement,
        outcome.agent.name,
        models.map((m) => m.name),
      ),
    );
  });
}
