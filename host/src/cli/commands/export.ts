import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { sha256Hex } from '@s4op/shared';
import { initBackend } from '../../backend.js';
import { emit, log, userCheck, userCheckAsync, UserError } from '../util.js';
import { addAgentTargetOptions, agentTarget, parseNumber, type AgentTargetFlags } from '../options.js';
import { BYPASS_MODES, type BypassMode } from '../../export/bypass.js';
import {
  checkLength,
  EXPORT_MODES,
  exportModel,
  PRECISIONS,
  resolveVariant,
  type ExportMode,
  type Precision,
} from '../../export/export.js';
import { formatTuning, tuneExport } from '../../export/tune.js';
import {
  checkDeviceClass,
  deviceClassOf,
  describeShape,
  tunedLabel,
  tunedVariant,
  modelTuneShape,
  type TuningRecord,
} from '../../export/tuned.js';
import { variantsHelp } from '../../export/variants/registry.js';
import type { VariantOptions } from '../../export/variants/variant.js';
import { loadCheckpoint } from '../../model/checkpoint.js';
import { AgentMeasurer } from '../../prune/cost/agent.js';
import { RunStore } from '../../store/run-store.js';

interface ExportFlags extends AgentTargetFlags {
  checkpoint?: string;
  mode: string;
  variant: string;
  out?: string;
  length?: string;
  bypass: string;
  precision: string;
  block?: string;
  backend?: string;
  json?: boolean;
  tune?: boolean;
  variants?: string;
  tie?: number;
  deviceClass?: string;
  settings?: string;
  waitAgentMs: string;
  workspace: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('export')
    .description('export a checkpoint (with its active operators) to ONNX; pruned operators are left out of the graph')
    .option('--checkpoint <dir>', 'checkpoint directory (model.safetensors + config.json)')
    .requiredOption('--mode <mode>', 'conv (whole sequence in, logits out) or step (one time step, streaming)')
    .option(
      '--variant <name>',
      `${variantsHelp()} (auto: the device class's tuned choice, else the static rule by size)`,
      'auto',
    )
    .option('--out <file>', 'ONNX file to write (optional with --tune: then only the tuning is recorded)')
    .option(
      '--length <L>',
      'sequence length of conv mode (default: the length of the dataset the checkpoint was trained on)',
    )
    .option(
      '--bypass <how>',
      'how bypassed operators pass through: fold (permutation folded into the next Linear) or scatter',
      'fold',
    )
    .option(
      '--precision <p>',
      'float32, or int8: the encoder, mixing and decoder Linears dynamically quantised (int8 weights, activations quantised at run time; the SSM stays float32)',
      'float32',
    )
    .option(
      '--block <T>',
      'chunked, prefix, scan and toeplitz variants: block length (default: chunked about d_state/2 for S4D, at least 24, d_state for S4, at least 16; prefix about d_state, at least 16; scan and toeplitz about 24–28)',
    )
    .option(
      '--tune',
      'measure the applicable variants and block lengths paired on the board (--agent, --tag or a local agent) and record the fastest for its device class',
    )
    .option(
      '--variants <list>',
      'with --tune: only these variants (comma-separated; default every variant of the mode)',
    )
    .option(
      '--tie <x>',
      'with --tune: median ratios within this fraction of the best tie, and the smaller graph wins',
      parseNumber,
    )
    .option(
      '--device-class <name>',
      'the device class whose tuning `auto` follows (or under which --tune records; default the tag, else the agent name, else local)',
    )
    .option('--settings <json>', 'with --tune: measurement settings as JSON (see s4op bench --help)')
    .option('--wait-agent-ms <n>', 'with --tune: how long to wait for the agent to connect', '60000')
    .option('--workspace <dir>', "run store (runs.sqlite) holding the tunings, and the local agent's cache", '.s4op')
    .option('--backend <name>', 'force a tfjs backend (tensorflow, wasm, cpu)')
    .option('--json', 'print JSON');
  addAgentTargetOptions(cmd, {
    agent:
      'with --tune: measure on this agent (it dials the embedded server, or use --server); without: its tuning is used',
    tag: "with --tune: measure on any agent with this tag (the device class); without: the class's tuning is used",
    server: 'with --tune: a running `s4op serve` to send the jobs through (token from --token or S4OP_TOKEN)',
    port: 'with --tune: port of the embedded server, for remote agents to dial (default: any free port)',
    bind: 'with --tune: interface of the embedded server',
  }).action(async (flags: ExportFlags) => {
    // Everything the user typed is checked before the checkpoint is read.
    if (!(EXPORT_MODES as readonly string[]).includes(flags.mode)) {
      throw new UserError(`unknown --mode "${flags.mode}"; expected ${EXPORT_MODES.join(' or ')}`);
    }
    const mode = flags.mode as ExportMode;
    userCheck(() => resolveVariant(mode, flags.variant));
    // 'auto' stays 'auto' unless a tuning replaces it: the static conv choice depends on the model's active channels.
    let variant = flags.variant;
    if (!(BYPASS_MODES as readonly string[]).includes(flags.bypass)) {
      throw new UserError(`unknown --bypass "${flags.bypass}"; expected ${BYPASS_MODES.join(' or ')}`);
    }
    if (!(PRECISIONS as readonly string[]).includes(flags.precision)) {
      throw new UserError(`unknown --precision "${flags.precision}"; expected ${PRECISIONS.join(' or ')}`);
    }
    const block = flags.block === undefined ? undefined : positiveInt('--block', flags.block);
    const tuneReq = checkTuneFlags(flags);
    if (!flags.checkpoint)
      throw new UserError(
        flags.tune
          ? '--tune measures the exports of a model: give --checkpoint DIR'
          : 'give --checkpoint DIR (the model to export)',
      );
    if (!flags.out && !flags.tune) throw new UserError('give --out FILE (the ONNX file to write)');
    await initBackend(flags.backend);
    const { model, config } = await userCheckAsync(() => loadCheckpoint(flags.checkpoint!));
    let store: RunStore | undefined;
    try {
      let length: number | undefined;
      if (mode === 'conv') {
        const raw = flags.length ?? (config.dataset as { length?: unknown } | undefined)?.length;
        if (raw === undefined)
          throw new UserError("conv mode needs --length: the checkpoint does not record its dataset's sequence length");
        if (typeof raw === 'string' && !/^\d+$/.test(raw))
          throw new UserError(`--length must be a positive integer, got "${raw}"`);
        length = userCheck(() => checkLength(typeof raw === 'string' ? Number(raw) : raw));
      }
      let variantOptions: VariantOptions = { block };
      let tuned: TuningRecord | undefined;
      let tuning: TuningRecord | undefined;
      if (tuneReq) {
        store = userCheck(() => RunStore.openWorkspace(flags.workspace));
        const shape = userCheck(() => modelTuneShape(model, mode, length));
        if (tuneReq.measure) {
          tuning = await runTuning(
            flags,
            store,
            model,
            mode,
            length,
            block,
            tuneReq.deviceClass,
            config.weights_sha256,
          );
          if (!flags.json) log(formatTuning(tuning));
          tuned = tuning;
        } else {
          tuned = tunedVariant(store, tuneReq.deviceClass, shape);
          if (!tuned)
            log(
              `no tuning of class ${tuneReq.deviceClass} for ${describeShape(shape)} in ${store.file}: auto keeps its static rule`,
            );
        }
        if (tuned) {
          variant = tuned.variant;
          variantOptions = { ...tuned.variant_options };
        }
      }
      if (!flags.out) {
        emit(flags, { tuning }, () => `recorded the tuning of class ${tuning!.device_class} in ${store!.file}`);
        return;
      }
      const out = flags.out;
      const t0 = performance.now();
      const result = userCheck(() =>
        exportModel(model, {
          mode,
          variant,
          length,
          bypass: flags.bypass as BypassMode,
          variantOptions,
          precision: flags.precision as Precision,
          source: { checkpoint: path.resolve(flags.checkpoint!), weightsSha256: config.weights_sha256 },
        }),
      );
      const ms = performance.now() - t0;
      await writeAtomic(out, result.bytes);
      const sha256 = sha256Hex(result.bytes);
      const s = result.stats;
      const summary = {
        out,
        bytes: result.bytes.length,
        sha256,
        mode,
        precision: result.metadata.precision,
        variant: result.variant,
        variant_params: JSON.parse(result.metadata.variant_params!) as unknown,
        tuned: tuned
          ? {
              id: tuned.id,
              device_class: tuned.device_class,
              label: tuned.label,
              variant_options: tuned.variant_options,
              created_at: tuned.created_at,
            }
          : null,
        tuning: tuning ?? null,
        length: length ?? null,
        active_operators: s.activeOperators,
        total_operators: s.totalOperators,
        pruning_rate: Number(result.metadata.pruning_rate),
        nodes: s.nodes,
        ssm_nodes: s.ssmNodes,
        initializer_bytes: s.initializerBytes,
        ssm_initializer_bytes: s.ssmInitializerBytes,
        flops: s.flops,
        states: result.states,
        export_ms: Math.round(ms),
      };
      emit(flags, summary, () =>
        [
          `wrote ${out} (${(result.bytes.length / 1e6).toFixed(2)} MB, sha256 ${sha256.slice(0, 16)}…)`,
          `${mode} mode${flags.precision === 'float32' ? '' : ` (${flags.precision})`}, variant ${tuned ? tunedLabel(tuned) : result.variant}${length ? `, L = ${length}` : ''}; ${s.activeOperators}/${s.totalOperators} operators active (${(100 * summary.pruning_rate).toFixed(1)} % pruned)`,
          `${s.nodes} nodes (${s.ssmNodes} SSM), initializers ${(s.initializerBytes / 1e6).toFixed(2)} MB (${(s.ssmInitializerBytes / 1e6).toFixed(2)} MB SSM); exported in ${Math.round(ms)} ms`,
        ].join('\n'),
      );
      if (!flags.json && result.states.length)
        log(`step states: ${result.states.map((st) => st.input).join(', ')} (feed back <name>_next)`);
    } finally {
      model.dispose();
      store?.close();
    }
  });
}

/**
 * What the tuning flags ask for: `measure` (--tune) on the board of a device class, or a lookup of the
 * class's tuning (variant auto, no --block, with --device-class, --tag or --agent); null: no tuning involved.
 */
function checkTuneFlags(f: ExportFlags): { measure: boolean; deviceClass: string } | null {
  agentTarget(f);
  if (f.tag !== undefined && !/^[\w.-]{1,64}$/.test(f.tag))
    throw new UserError(`--tag takes one tag (a device class) of letters, digits, '.', '_' or '-', got "${f.tag}"`);
  if (f.deviceClass !== undefined) userCheck(() => checkDeviceClass(f.deviceClass!));
  const measureOnly = (['variants', 'tie', 'server', 'settings'] as const).filter((k) => f[k] !== undefined);
  if (!f.tune) {
    if (measureOnly.length) throw new UserError(`--${measureOnly[0]} is for --tune`);
    // An explicit variant or block length is the user's choice: no tuning is looked up.
    if (f.variant !== 'auto' || f.block !== undefined || !(f.deviceClass || f.tag || f.agent)) return null;
    return { measure: false, deviceClass: userCheck(() => deviceClassOf(f)) };
  }
  if (f.variant !== 'auto')
    throw new UserError(
      `--tune chooses the variant: drop --variant ${f.variant} (--variants a,b limits the candidates)`,
    );
  if (f.tie !== undefined && !(f.tie >= 0 && f.tie < 1))
    throw new UserError(`--tie must be a fraction in [0, 1), got ${f.tie}`);
  parseSettings(f.settings);
  return { measure: true, deviceClass: userCheck(() => deviceClassOf(f)) };
}

function parseSettings(raw: string | undefined): unknown {
  if (raw === undefined) return {};
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new UserError(`--settings is not JSON: ${(err as Error).message}`);
  }
}

async function runTuning(
  f: ExportFlags,
  store: RunStore,
  model: Parameters<typeof tuneExport>[1],
  mode: ExportMode,
  length: number | undefined,
  block: number | undefined,
  deviceClass: string,
  weightsSha256: string,
): Promise<TuningRecord> {
  const target = agentTarget(f);
  const waitForAgentMs = positiveInt('--wait-agent-ms', f.waitAgentMs);
  let measurer: AgentMeasurer | undefined;
  const connect = async (): Promise<AgentMeasurer> => {
    measurer = await userCheckAsync(() =>
      AgentMeasurer.start({
        mode,
        length: length ?? 1,
        settings: parseSettings(f.settings),
        agent: target.agent,
        tag: target.tag,
        server: target.server,
        port: target.port ?? 0,
        bind: target.bind,
        token: target.token,
        cacheDir: path.resolve(f.workspace, 'agent-cache'),
        waitForAgentMs,
        log: f.json ? undefined : log,
        quiet: f.json,
      }),
    );
    return measurer;
  };
  try {
    return await userCheckAsync(() =>
      tuneExport(store, model, {
        mode,
        length,
        block,
        bypass: f.bypass as BypassMode,
        variants: f.variants
          ?.split(',')
          .map((v) => v.trim())
          .filter(Boolean),
        tie: f.tie,
        deviceClass,
        measurer: connect,
        model: { checkpoint: path.resolve(f.checkpoint!), weights_sha256: weightsSha256 },
        log: f.json ? undefined : log,
      }),
    );
  } finally {
    await measurer?.close();
  }
}

function positiveInt(flag: string, raw: string): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new UserError(`${flag} must be a positive integer, got "${raw}"`);
  return v;
}

/** Errors from validating the user's request become UserErrors (message as is, exit code 2). */
async function writeAtomic(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
}
