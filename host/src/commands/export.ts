import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { initBackend } from '../backend.js';
import { emit, log, UserError } from '../cli-util.js';
import { BYPASS_MODES, type BypassMode } from '../export/bypass.js';
import { checkLength, EXPORT_MODES, exportModel, resolveVariant, type ExportMode } from '../export/export.js';
import { loadCheckpoint } from '../model/checkpoint.js';

interface ExportFlags {
  checkpoint: string;
  mode: string;
  variant: string;
  out: string;
  length?: string;
  bypass: string;
  block?: string;
  backend?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('export')
    .description('export a checkpoint (with its active operators) to ONNX; pruned operators are left out of the graph')
    .requiredOption('--checkpoint <dir>', 'checkpoint directory (model.safetensors + config.json)')
    .requiredOption('--mode <mode>', 'conv (whole sequence in, logits out) or step (one time step, streaming)')
    .option('--variant <name>', 'conv: chunked, prefix (S4D), fft, direct or auto; step: recurrent, packed or auto', 'auto')
    .requiredOption('--out <file>', 'ONNX file to write')
    .option('--length <L>', 'sequence length of conv mode (default: the length of the dataset the checkpoint was trained on)')
    .option('--bypass <how>', 'how bypassed operators pass through: fold (permutation folded into the next Linear) or scatter', 'fold')
    .option('--block <T>', 'chunked and prefix variants: block length (default about d_state/2 and d_state)')
    .option('--backend <name>', 'force a tfjs backend (tensorflow, wasm, cpu)')
    .option('--json', 'print JSON')
    .action(async (flags: ExportFlags) => {
      // Everything the user typed is checked before the checkpoint is read.
      if (!(EXPORT_MODES as readonly string[]).includes(flags.mode)) {
        throw new UserError(`unknown --mode "${flags.mode}"; expected ${EXPORT_MODES.join(' or ')}`);
      }
      const mode = flags.mode as ExportMode;
      userCheck(() => resolveVariant(mode, flags.variant));
      if (!(BYPASS_MODES as readonly string[]).includes(flags.bypass)) {
        throw new UserError(`unknown --bypass "${flags.bypass}"; expected ${BYPASS_MODES.join(' or ')}`);
      }
      const block = flags.block === undefined ? undefined : positiveInt('--block', flags.block);
      await initBackend(flags.backend);
      const { model, config } = await userCheckAsync(() => loadCheckpoint(flags.checkpoint));
      try {
        let length: number | undefined;
        if (mode === 'conv') {
          const raw = flags.length ?? (config.dataset as { length?: unknown } | undefined)?.length;
          if (raw === undefined) throw new UserError('conv mode needs --length: the checkpoint does not record its dataset\'s sequence length');
          if (typeof raw === 'string' && !/^\d+$/.test(raw)) throw new UserError(`--length must be a positive integer, got "${raw}"`);
          length = userCheck(() => checkLength(typeof raw === 'string' ? Number(raw) : raw));
        }
        const t0 = performance.now();
        const result = userCheck(() =>
          exportModel(model, {
            mode,
            // 'auto' stays 'auto' here: the conv choice depends on the model's active channels.
            variant: flags.variant,
            length,
            bypass: flags.bypass as BypassMode,
            variantOptions: { block },
            source: { checkpoint: path.resolve(flags.checkpoint), weightsSha256: config.weights_sha256 },
          }),
        );
        const ms = performance.now() - t0;
        await writeAtomic(flags.out, result.bytes);
        const sha256 = createHash('sha256').update(result.bytes).digest('hex');
        const s = result.stats;
        const summary = {
          out: flags.out,
          bytes: result.bytes.length,
          sha256,
          mode,
          variant: result.variant,
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
            `wrote ${flags.out} (${(result.bytes.length / 1e6).toFixed(2)} MB, sha256 ${sha256.slice(0, 16)}…)`,
            `${mode} mode, variant ${result.variant}${length ? `, L = ${length}` : ''}; ${s.activeOperators}/${s.totalOperators} operators active (${(100 * summary.pruning_rate).toFixed(1)} % pruned)`,
            `${s.nodes} nodes (${s.ssmNodes} SSM), initializers ${(s.initializerBytes / 1e6).toFixed(2)} MB (${(s.ssmInitializerBytes / 1e6).toFixed(2)} MB SSM); exported in ${Math.round(ms)} ms`,
          ].join('\n'),
        );
        if (!flags.json && result.states.length) log(`step states: ${result.states.map((st) => st.input).join(', ')} (feed back <name>_next)`);
      } finally {
        model.dispose();
      }
    });
}

function positiveInt(flag: string, raw: string): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new UserError(`${flag} must be a positive integer, got "${raw}"`);
  return v;
}

/** Errors from validating the user's request become UserErrors (message as is, exit code 2). */
function userCheck<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UserError(err instanceof Error ? err.message : String(err));
  }
}

async function userCheckAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new UserError(err instanceof Error ? err.message : String(err));
  }
}

async function writeAtomic(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
}
