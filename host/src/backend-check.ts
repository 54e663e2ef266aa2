/**
 * Start-up self-check of a tfjs backend the host cannot vouch for (tfjs-node: native TensorFlow, installed
 * on users' machines, untestable in this repository's CI): the same small workload runs on a candidate
 * backend and on a reference backend, and the candidate is trusted only if every result agrees within
 * tolerance. The workload is what training leans on: the SSM custom ops forward and backward (the S4D
 * kernel and the long convolution, whose gradients are hand-derived and glued into tfjs), and one AdamW
 * training step of a tiny S4D model (loss, every gradient, every updated weight).
 *
 * The verdict is cached per candidate, reference and installed version, in a small JSON file under the
 * user's cache directory, so only the first start after an install pays for it (a few hundred ms).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { modelConfig } from './model/config.js';
import { SequenceModel } from './model/model.js';
import { s4dKernel, ssmConv } from './ssm/index.js';
import { AdamW } from './train/optimizer.js';
import { computeGradients, applyGradients } from './train/trainer.js';

/** Bump when the workload or the comparison changes: older cached verdicts are then not reused. */
export const BACKEND_CHECK_VERSION = 1;

/**
 * Largest accepted error of any checked array: ‖candidate − reference‖₂ / max(‖reference‖₂, 1e-6). Float32
 * backends that compute the same thing agree to about 1e-6 here (reductions in a different order); a wrong
 * kernel shows up at 1e-2 or more.
 */
export const BACKEND_CHECK_TOLERANCE = 1e-3;

export interface BackendCheckOptions {
  /** Registered tfjs backend under test. */
  candidate: string;
  /** Registered tfjs backend it must agree with. */
  reference: string;
  /** What is installed (e.g. "@tensorflow/tfjs-node@4.22.0"): a verdict is reused only for the same one. */
  version: string;
  /** Cache file; default backendCheckCacheFile(); null: neither read nor write a cache. */
  cacheFile?: string | null;
  tolerance?: number;
}

export interface BackendVerdict {
  ok: boolean;
  /** Why the candidate was rejected (one line). */
  reason?: string;
  /** The checked array that differed most, and by how much (norm-relative). */
  worst?: { name: string; error: number };
  /** Read from the cache instead of computed now. */
  cached: boolean;
  key: string;
  checked_at: string;
}

/** $S4OP_CACHE_DIR, else $XDG_CACHE_HOME/s4op, else ~/.cache/s4op. */
export function s4opCacheDir(): string {
  if (process.env.S4OP_CACHE_DIR) return process.env.S4OP_CACHE_DIR;
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 's4op');
}

export function backendCheckCacheFile(): string {
  return path.join(s4opCacheDir(), 'backend-check.json');
}

/** Runs (or recalls) the check; never throws for a failing candidate, which is a verdict like any other. */
export async function checkBackend(opts: BackendCheckOptions): Promise<BackendVerdict> {
  const key = `${opts.candidate}~${opts.reference}|${opts.version}|tfjs ${tf.version.tfjs}|check ${BACKEND_CHECK_VERSION}`;
  const file = opts.cacheFile === undefined ? backendCheckCacheFile() : opts.cacheFile;
  const cache = file ? readCache(file) : {};
  const hit = cache[key];
  if (hit) return { ...hit, key, cached: true };

  const verdict = await compare(opts);
  const stored: Omit<BackendVerdict, 'cached' | 'key'> = {
    ok: verdict.ok,
    reason: verdict.reason,
    worst: verdict.worst,
    checked_at: new Date().toISOString(),
  };
  if (file) writeCache(file, { ...cache, [key]: stored });
  return { ...stored, key, cached: false };
}

async function compare(opts: BackendCheckOptions): Promise<Omit<BackendVerdict, 'cached' | 'key' | 'checked_at'>> {
  const tolerance = opts.tolerance ?? BACKEND_CHECK_TOLERANCE;
  const before = tf.getBackend();
  let ref: Map<string, Float32Array>;
  let cand: Map<string, Float32Array>;
  try {
    ref = await runOn(opts.reference);
  } catch (err) {
    // Not the candidate's fault; without a reference there is no verdict to give, so it is not trusted.
    return { ok: false, reason: `reference backend ${opts.reference} failed the workload: ${firstLine(err)}` };
  }
  try {
    cand = await runOn(opts.candidate);
  } catch (err) {
    return { ok: false, reason: `failed the workload: ${firstLine(err)}` };
  } finally {
    if (before && tf.getBackend() !== before) await tf.setBackend(before);
  }
  let worst = { name: '', error: 0 };
  for (const [name, r] of ref) {
    const c = cand.get(name);
    if (!c || c.length !== r.length)
      return { ok: false, reason: `${name}: ${c ? `${c.length} values, expected ${r.length}` : 'missing'}` };
    const error = relativeError(c, r);
    if (!(error <= worst.error)) worst = { name, error };
  }
  if (!(worst.error <= tolerance)) {
    return {
      ok: false,
      worst,
      reason: `${worst.name} differs from ${opts.reference} by ${Number.isFinite(worst.error) ? worst.error.toExponential(1) : 'NaN'} (tolerance ${tolerance.toExponential(0)})`,
    };
  }
  return { ok: true, worst };
}

/** ‖a − b‖₂ / max(‖b‖₂, 1e-6); NaN anywhere gives NaN (never within tolerance). */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-6);
}

/** The workload on `backend`; every result is copied out, every tensor disposed. */
async function runOn(backend: string): Promise<Map<string, Float32Array>> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not start`);
  await tf.ready();
  const out = new Map<string, Float32Array>();
  const keep = (name: string, t: tf.Tensor) => out.set(name, Float32Array.from(t.dataSync()));
  const startTensors = tf.memory().numTensors;

  // 1. The S4D kernel op: values, and gradients of a fixed weighting of them w.r.t. every parameter.
  const H = 3;
  const M = 2;
  const L = 16;
  const active = Int32Array.from([0, 2]);
  tf.tidy(() => {
    const p = {
      logDt: tf.tensor1d(series(H, 1, -4.5, 2)),
      logAReal: tf.tensor2d(series(H * M, 2, -1, 0.5), [H, M]),
      aImag: tf.tensor2d(series(H * M, 3, 0, 3.2), [H, M]),
      cRe: tf.tensor2d(series(H * M, 4, -0.5, 1), [H, M]),
      cIm: tf.tensor2d(series(H * M, 5, -0.5, 1), [H, M]),
    };
    const w = tf.tensor2d(series(active.length * L, 6, -1, 2), [active.length, L]);
    const f = (logDt: tf.Tensor, logAReal: tf.Tensor, aImag: tf.Tensor, cRe: tf.Tensor, cIm: tf.Tensor) =>
      tf.sum(tf.mul(s4dKernel({ logDt, logAReal, aImag, cRe, cIm } as never, L, active), w));
    keep('s4dKernel', s4dKernel(p, L, active));
    const grads = tf.grads(f)([p.logDt, p.logAReal, p.aImag, p.cRe, p.cIm]);
    ['logDt', 'logAReal', 'aImag', 'cRe', 'cIm'].forEach((n, i) => keep(`s4dKernel.grad.${n}`, grads[i]!));
  });

  // 2. The long convolution op: values, and gradients w.r.t. input, kernel and D.
  tf.tidy(() => {
    const B = 2;
    const u = tf.tensor3d(series(B * L * H, 7, -1, 2), [B, L, H]);
    const k = tf.tensor2d(series(active.length * L, 8, -0.5, 1), [active.length, L]);
    const d = tf.tensor1d(series(H, 9, -1, 2));
    const w = tf.tensor3d(series(B * L * H, 10, -1, 2), [B, L, H]);
    keep('ssmConv', ssmConv(u, k, d, active));
    const grads = tf.grads((uu: tf.Tensor, kk: tf.Tensor, dd: tf.Tensor) =>
      tf.sum(tf.mul(ssmConv(uu as tf.Tensor3D, kk as tf.Tensor2D, dd as tf.Tensor1D, active), w)),
    )([u, k, d]);
    ['u', 'k', 'd'].forEach((n, i) => keep(`ssmConv.grad.${n}`, grads[i]!));
  });

  // 3. One training step of a tiny S4D classifier: loss, gradients, and the weights after AdamW's update.
  let model!: SequenceModel;
  let optimizer!: AdamW;
  // In a tidy: ParamStore and AdamW leave the initial values of their variables undisposed.
  tf.tidy(() => {
    model = new SequenceModel(
      modelConfig({ ssm: 's4d', dModel: 4, dState: 4, nLayers: 2, inputSize: 2, numClasses: 3, dropout: 0 }),
      7,
    );
    optimizer = new AdamW(model.params.trainable(), {
      groups: { default: { lr: 1e-3, weightDecay: 0.01 }, ssm: { lr: 1e-3, weightDecay: 0 } },
    });
  });
  const x = tf.tensor3d(series(2 * L * 2, 11, -1, 2), [2, L, 2]);
  const y = tf.tensor1d([0, 2], 'int32');
  try {
    const { grads, loss } = computeGradients(model, x, y, 0);
    out.set('train.loss', Float32Array.of(loss));
    for (const [name, g] of grads) keep(`train.grad.${name}`, g);
    applyGradients(optimizer, grads, { lrScale: 1, clip: 1 });
    for (const [name, { values }] of model.params.snapshot()) out.set(`train.step.${name}`, Float32Array.from(values));
  } finally {
    x.dispose();
    y.dispose();
    optimizer.dispose();
    model.dispose();
  }
  const leaked = tf.memory().numTensors - startTensors;
  if (leaked > 0) throw new Error(`the workload leaked ${leaked} tensors`);
  return out;
}

/** n deterministic values in [lo, lo + span): a fixed, irregular sequence (no RNG, same on every machine). */
function series(n: number, seed: number, lo: number, span: number): Float32Array {
  const frac = (v: number) => v - Math.floor(v);
  return Float32Array.from(
    { length: n },
    (_, i) => lo + span * frac(Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453),
  );
}

type CacheFile = Record<string, Omit<BackendVerdict, 'cached' | 'key'>>;

function readCache(file: string): CacheFile {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return data && typeof data === 'object' && !Array.isArray(data) ? (data as CacheFile) : {};
  } catch {
    return {};
  }
}

function writeCache(file: string, data: CacheFile): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n');
    renameSync(tmp, file);
  } catch {
    // A read-only home only costs a re-check at the next start.
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.slice(0, 200);
}
