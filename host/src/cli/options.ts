/**
 * The option parsers the `s4op` subcommands share: numbers, choices, ports, and the dataset options of every
 * command that reads data. Commander calls the value parsers with the flag's text.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { DatasetOptions } from '../data/dataset.js';
import { UserError } from './util.js';

export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}

export const oneOf =
  <T extends string>(...values: T[]) =>
  (value: string): T => {
    if (!values.includes(value as T)) throw new InvalidArgumentError(`expected one of ${values.join(', ')}`);
    return value as T;
  };

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UserError(`--port must be an integer in 0–65535, got "${value}"`);
  return port;
}

/** The dataset flags: DatasetOptions' fields, with the split sizes as --train/--val/--test. */
export type DatasetFlags = Omit<DatasetOptions, 'splits' | 'permutation' | 'sha256'> & {
  json?: boolean;
  train?: number;
  val?: number;
  test?: number;
};

const inputKind = oneOf('continuous', 'tokens');

export function datasetOptionsFromFlags(f: DatasetFlags): DatasetOptions {
  const splits = { train: f.train, val: f.val, test: f.test };
  const o: DatasetOptions = {
    seed: f.seed,
    splits: Object.values(splits).some((v) => v !== undefined) ? splits : undefined,
    downsample: f.downsample,
    permutationSeed: f.permutationSeed,
    minLength: f.minLength,
    maxLength: f.maxLength,
    maxDepth: f.maxDepth,
    maxArgs: f.maxArgs,
    x: f.x,
    y: f.y,
    numClasses: f.numClasses,
    vocabSize: f.vocabSize,
    inputKind: f.inputKind,
    pad: f.pad,
  };
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as DatasetOptions;
}

/** The dataset options every command that reads data accepts (data info, train, prune …). */
export function addDatasetOptions(cmd: Command): Command {
  return cmd
    .option('--train <n>', 'training examples', parseCount)
    .option('--val <n>', 'validation examples', parseCount)
    .option('--test <n>', 'test examples', parseCount)
    .option('--downsample', 'sMNIST: 14×14 images (L = 196)')
    .option('--permutation-seed <n>', 'psMNIST: seed of the pixel permutation', parseCount)
    .option('--min-length <n>', 'ListOps: fewest tokens', parseCount)
    .option('--max-length <n>', 'ListOps: most tokens (= padded length L)', parseCount)
    .option('--max-depth <n>', 'ListOps: depth limit of the expression tree', parseCount)
    .option('--max-args <n>', 'ListOps: most arguments per operator', parseCount)
    .option('--x <file>', '.npy file of inputs')
    .option('--y <file>', '.npy file of labels')
    .option('--num-classes <n>', 'files: number of classes (default: largest label + 1)', parseCount)
    .option('--vocab-size <n>', 'files: token vocabulary size (default: largest id + 1)', parseCount)
    .option('--input-kind <kind>', '.jsonl: continuous or tokens (default: guessed)', inputKind)
    .option('--pad', '.jsonl: pad shorter sequences with 0 instead of rejecting them');
}

/** The flags that choose where jobs are measured: an agent or tag, through a running server or an embedded one. */
export interface AgentTargetFlags {
  agent?: string;
  tag?: string;
  server?: string;
  token?: string;
  port?: string;
  bind: string;
}

export type AgentTargetHelp = Partial<Record<'agent' | 'tag' | 'server' | 'token' | 'port' | 'bind', string>>;

const TARGET_HELP: Required<AgentTargetHelp> = {
  agent: 'measure on this agent (it dials the embedded server, or use --server)',
  tag: 'measure on any agent with this tag',
  server: 'a running `s4op serve` to send the jobs through (token from --token or S4OP_TOKEN)',
  token: 'token of --server, or of the embedded server (or set S4OP_TOKEN)',
  port: 'port of the embedded server, for remote agents to dial (default: any free port)',
  bind: 'interface of the embedded server',
};

/**
 * --agent, --tag, --server, --token, --port and --bind, for every command that measures (bench, export --tune,
 * prune); `help` replaces the lines whose meaning differs in a command.
 */
export function addAgentTargetOptions(cmd: Command, help: AgentTargetHelp = {}): Command {
  const h = { ...TARGET_HELP, ...help };
  return cmd
    .option('--agent <name>', h.agent)
    .option('--tag <tag>', h.tag)
    .option('--server <url>', h.server)
    .option('--token <t>', h.token)
    .option('--port <n>', h.port)
    .option('--bind <address>', h.bind, '127.0.0.1');
}

export interface AgentTarget {
  agent?: string;
  tag?: string;
  /** A running server and its token. */
  server?: { url: string; token: string };
  /** The token of the server or of the embedded one (--token, else S4OP_TOKEN). */
  token?: string;
  /** The embedded server's port; undefined: any free port. */
  port?: number;
  bind: string;
}

/** The flags checked: one of --agent and --tag, a token with --server, a port in range. */
export function agentTarget(f: AgentTargetFlags): AgentTarget {
  if (f.agent && f.tag) throw new UserError('give --agent or --tag, not both');
  const token = f.token ?? process.env.S4OP_TOKEN;
  if (f.server && !token) throw new UserError('--server needs its token: --token T or S4OP_TOKEN');
  return {
    agent: f.agent,
    tag: f.tag,
    server: f.server ? { url: f.server, token: token! } : undefined,
    token,
    port: f.port === undefined ? undefined : parsePort(f.port),
    bind: f.bind,
  };
}
