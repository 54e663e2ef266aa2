import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelConfig, Rng, type ModelConfig, type SequenceModel } from '@s4op/host';

/** Helpers every benchmark script shares: medians, the PyTorch reference, and writing results. */

export const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
export const RESULTS_DIR = `${BENCH_DIR}results/`;
/** Debian's python with python3-torch (the first python3 on PATH may be another one without it). */
export const TORCH_PYTHON = process.env.S4OP_TORCH_PYTHON ?? '/usr/bin/python3';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median wall time in seconds of `fn` over `repeats` runs after `warmup` runs. */
export function timeIt(fn: () => void, repeats: number, warmup = 1): { median_s: number; times_s: number[] } {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
  }
  return { median_s: median(times), times_s: times };
}

/** Runs scripts/bench/torch_s4d.py and parses its JSON line; throws with its stderr when torch is missing. */
export function runTorch(args: string[]): Record<string, unknown> {
  const r = spawnSync(TORCH_PYTHON, [`${BENCH_DIR}torch_s4d.py`, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    throw new Error(
      `PyTorch reference failed (${TORCH_PYTHON}; install Debian's python3-torch): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

export function peakRssMb(): number {
  // maxRSS is in kilobytes on Linux.
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** Writes results/<name>.json, or `file` when given (a smoke run that must not replace the committed figures). */
export function writeResult(
  name: string,
  result: Record<string, unknown>,
  file = `${RESULTS_DIR}${name}.json`,
): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify({ ...result, date: new Date().toISOString(), node: process.version }, null, 2)}\n`,
  );
  return file;
}

/** `--name N` from the command line as a positive integer, else `fallback`. */
export function intArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`--${name} needs a positive integer, got "${process.argv[i + 1]}"`);
  return v;
}

/**
 * Keeps round(H·(1 − rate/100)) operators (at least one) in every layer, chosen by a shuffle seeded by the
 * rate: the same candidates in every export benchmark.
 */
export function pruneSeeded(model: SequenceModel, rate: number): void {
  const H = model.config.dModel;
  const rng = new Rng(1000 + rate);
  for (let i = 0; i < model.config.nLayers; i++) {
    const perm = Array.from({ length: H }, (_, h) => h);
    for (let j = H - 1; j > 0; j--) {
      const k = Math.floor(rng.uniform(0, j + 1));
      [perm[j], perm[k]] = [perm[k]!, perm[j]!];
    }
    model.setActive(i, perm.slice(0, Math.max(1, Math.round(H * (1 - rate / 100)))));
  }
}

/** The benchmarks' S4D classifier: one continuous input feature, 10 classes, post-LayerNorm, S4D-Lin. */
export function benchS4dConfig(dModel: number, dState: number, nLayers = 4): ModelConfig {
  return modelConfig({ ssm: 's4d', dModel, dState, nLayers, dropout: 0 });
}
