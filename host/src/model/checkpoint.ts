import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256Hex } from '@s4op/shared';
import { validateConfig, type ModelConfig } from './config.js';
import { SequenceModel } from './model.js';
import { encodeSafetensors, readSafetensors } from './safetensors.js';

/**
 * A checkpoint is a directory: `model.safetensors` (weights, named as in the state-spaces S4D example) and
 * `config.json` (architecture, active operators per layer, dataset and training record).
 */
export const CHECKPOINT_FORMAT = 's4op-checkpoint';
export const CHECKPOINT_VERSION = 1;
export const WEIGHTS_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';

export interface CheckpointConfig {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  model: ModelConfig;
  /** Sorted active channel indices per layer. */
  active_operators: number[][];
  /** Pruned states (mode indices h·M + m) per layer; absent when none is pruned. */
  pruned_states?: number[][];
  /** How the model is exported and deployed (a candidate of the int8 axis); absent: float32. */
  precision?: 'float32' | 'int8';
  /** The state schedule's point this candidate reached (percent of states pruned); absent: 0. */
  state_rate?: number;
  /** sha256 of model.safetensors, so exports and runs can name their source exactly. */
  weights_sha256: string;
  created: string;
  /** What the model was trained on (dataset description and its reproducibility spec). */
  dataset?: Record<string, unknown>;
  training?: unknown;
  /** Free-form provenance (e.g. imported from a PyTorch checkpoint, parent checkpoint of a pruned one). */
  provenance?: Record<string, unknown>;
}

export async function saveCheckpoint(
  dir: string,
  model: SequenceModel,
  extra: Pick<CheckpointConfig, 'dataset' | 'training' | 'provenance' | 'precision' | 'state_rate'> = {},
): Promise<CheckpointConfig> {
  const weights = encodeSafetensors(model.params.snapshot(), { format: 'pt' });
  const prunedStates = model.prunedStates();
  const config: CheckpointConfig = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    model: model.config,
    active_operators: model.activeOperators(),
    ...(prunedStates.some((l) => l.length) ? { pruned_states: prunedStates } : {}),
    weights_sha256: sha256Hex(weights),
    created: new Date().toISOString(),
    ...extra,
  };
  // Written next to the target and renamed into place, so a crash never leaves half a checkpoint.
  const tmp = `${dir.replace(/\/+$/, '')}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  await writeFile(path.join(tmp, WEIGHTS_FILE), weights);
  await writeFile(path.join(tmp, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.dirname(path.resolve(dir)), { recursive: true });
  await rename(tmp, dir);
  return config;
}

export async function readCheckpointConfig(dir: string): Promise<CheckpointConfig> {
  const file = path.join(dir, CONFIG_FILE);
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error(`checkpoint ${dir} is not a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`checkpoint ${dir} does not exist`);
    throw err;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`checkpoint ${dir} has no ${CONFIG_FILE}`);
  }
  let config: CheckpointConfig;
  try {
    config = JSON.parse(text);
  } catch {
    throw new Error(`checkpoint ${dir}: ${CONFIG_FILE} is not valid JSON`);
  }
  if (config.format !== CHECKPOINT_FORMAT)
    throw new Error(`checkpoint ${dir}: ${CONFIG_FILE} is not an s4op checkpoint (format "${String(config.format)}")`);
  if (config.version > CHECKPOINT_VERSION)
    throw new Error(
      `checkpoint ${dir}: version ${config.version} is newer than this s4op reads (${CHECKPOINT_VERSION})`,
    );
  validateConfig(config.model);
  return config;
}

/** Loads a checkpoint into a new model; verifies the weights' hash and every tensor's shape. */
export async function loadCheckpoint(dir: string): Promise<{ model: SequenceModel; config: CheckpointConfig }> {
  const config = await readCheckpointConfig(dir);
  const file = path.join(dir, WEIGHTS_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    throw new Error(`checkpoint ${dir} has no ${WEIGHTS_FILE}`);
  }
  const hash = sha256Hex(bytes);
  if (config.weights_sha256 && hash !== config.weights_sha256) {
    throw new Error(
      `checkpoint ${dir}: ${WEIGHTS_FILE} is corrupt (sha256 ${hash.slice(0, 12)}… but config says ${config.weights_sha256.slice(0, 12)}…)`,
    );
  }
  const { tensors } = await readSafetensors(file);
  const model = new SequenceModel(config.model);
  try {
    for (const p of model.params.list()) {
      const t = tensors.get(p.name);
      if (!t) throw new Error(`checkpoint ${dir}: ${WEIGHTS_FILE} lacks tensor ${p.name}`);
      model.params.set(p.name, t.values, t.shape);
    }
    config.active_operators.forEach((channels, i) => model.setActive(i, channels));
    config.pruned_states?.forEach((pruned, i) => {
      if (!pruned.length) return;
      const mask = new Uint8Array(config.model.dModel * (config.model.dState / 2)).fill(1);
      for (const j of pruned) {
        if (!Number.isInteger(j) || j < 0 || j >= mask.length)
          throw new Error(
            `checkpoint ${dir}: ${CONFIG_FILE} prunes state ${j} of layer ${i}, out of range [0, ${mask.length})`,
          );
        mask[j] = 0;
      }
      model.setStateMask(i, mask);
    });
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, config };
}

export { readSafetensors };
