import { createHash } from 'node:crypto';
import type { Rng } from '../util/random.js';
import { DataError } from './options.js';

/**
 * ListOps as in the Long Range Arena recipe (Tay et al. 2020, after Nangia & Bowman 2018): nested
 * expressions `[OP a b … ]` over MAX, MIN, MED (median, rounded down) and SM (sum modulo 10) with digit
 * arguments; the class is the expression's value.
 */
export const OPERATORS = ['[MIN', '[MAX', '[MED', '[SM'] as const;
export type ListOpsOperator = (typeof OPERATORS)[number];
export const CLOSE = ']';

export type ListOpsTree = number | { op: ListOpsOperator; args: ListOpsTree[] };

/** Fixed vocabulary: PAD = 0, then digits, operators (each with its opening bracket), closing bracket. */
export const PAD = '<pad>';
export const VOCAB: readonly string[] = [PAD, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ...OPERATORS, CLOSE];
export const PAD_ID = 0;
const TOKEN_ID = new Map(VOCAB.map((t, i) => [t, i]));

export interface ListOpsConfig {
  minLength: number; // tokens, inclusive
  maxLength: number; // tokens, inclusive; sequences are padded to this
  maxDepth: number; // operators appear at depths 1..maxDepth-1 (the root is depth 1)
  maxArgs: number; // arguments per operator: 2..maxArgs
}

export const LRA_LISTOPS: ListOpsConfig = { minLength: 500, maxLength: 2000, maxDepth: 10, maxArgs: 10 };

/** Probability that a node above the depth limit is a digit rather than an operator (the recipe's VALUE_P). */
const VALUE_P = 0.25;

/** Value of an expression tree. */
export function evaluate(tree: ListOpsTree): number {
  if (typeof tree === 'number') return tree;
  const v = tree.args.map(evaluate);
  switch (tree.op) {
    case '[MIN':
      return Math.min(...v);
    case '[MAX':
      return Math.max(...v);
    case '[SM':
      return v.reduce((a, b) => a + b, 0) % 10;
    case '[MED': {
      const s = v.sort((a, b) => a - b);
      const m = s.length >> 1;
      // Even count: mean of the middle two, truncated (the recipe's int(np.median(...))).
      return s.length % 2 ? s[m] : Math.trunc((s[m - 1] + s[m]) / 2);
    }
  }
}

/** Tokens of a tree, without parentheses: `[MAX 2 [MIN 4 7 ] ]`. */
export function toTokens(tree: ListOpsTree, out: string[] = []): string[] {
  if (typeof tree === 'number') {
    out.push(String(tree));
  } else {
    out.push(tree.op);
    for (const a of tree.args) toTokens(a, out);
    out.push(CLOSE);
  }
  return out;
}

/** Splits an expression into tokens; parentheses (as in the LRA .tsv files) are dropped. */
export function splitTokens(text: string): string[] {
  return text
    .replace(/[()]/g, ' ')
    .split(/\s+/)
    .filter((t) => t !== '');
}

/** Parses an expression (text or tokens) into a tree; errors name the token and its position. */
export function parseExpression(input: string | readonly string[]): ListOpsTree {
  const tokens = typeof input === 'string' ? splitTokens(input) : input;
  let at = 0;
  const fail = (why: string): never => {
    throw new DataError(
      `ListOps expression: ${why} at token ${at} (${JSON.stringify(tokens.slice(at, at + 3).join(' '))})`,
    );
  };
  const node = (): ListOpsTree => {
    const t = tokens[at];
    if (t === undefined) return fail('unexpected end');
    if (/^[0-9]$/.test(t)) {
      at++;
      return Number(t);
    }
    if (!(OPERATORS as readonly string[]).includes(t)) return fail(`unknown token "${t}"`);
    at++;
    const args: ListOpsTree[] = [];
    while (tokens[at] !== CLOSE) {
      if (tokens[at] === undefined) return fail(`unclosed ${t}`);
      args.push(node());
    }
    at++;
    if (args.length === 0) fail(`${t} has no arguments`);
    return { op: t as ListOpsOperator, args };
  };
  const tree = node();
  if (at !== tokens.length) fail('trailing tokens');
  return tree;
}

/** Token ids of a token list; unknown tokens are an error. */
export function encode(tokens: readonly string[]): Int32Array {
  return Int32Array.from(tokens, (t) => {
    const id = TOKEN_ID.get(t);
    if (id === undefined) throw new DataError(`ListOps tokenizer: "${t}" is not in the vocabulary`);
    return id;
  });
}

/** Tokens of ids (padding dropped). */
export function decode(ids: ArrayLike<number>): string[] {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] === PAD_ID) continue;
    const t = VOCAB[ids[i]];
    if (t === undefined) throw new DataError(`ListOps tokenizer: id ${ids[i]} is not in the vocabulary`);
    out.push(t);
  }
  return out;
}

/**
 * One random tree by the recipe, drawn from `rng`: a node is a digit with probability VALUE_P (always at
 * maxDepth), else an operator with 2..maxArgs children. Returns undefined as soon as it would exceed
 * `maxLength` tokens: such a tree is rejected anyway, and stopping early keeps rare huge trees cheap.
 */
export function generateTree(rng: Rng, config: ListOpsConfig): { tree: ListOpsTree; length: number } | undefined {
  let length = 0;
  const grow = (depth: number): ListOpsTree | undefined => {
    const r = depth < config.maxDepth ? rng.next() : 1;
    if (r > VALUE_P) {
      length += 1;
      return rng.int(10);
    }
    length += 2;
    const n = 2 + rng.int(config.maxArgs - 1);
    const args: ListOpsTree[] = [];
    for (let i = 0; i < n; i++) {
      if (length > config.maxLength) return undefined;
      const a = grow(depth + 1);
      if (a === undefined) return undefined;
      args.push(a);
    }
    return { op: OPERATORS[rng.int(OPERATORS.length)], args };
  };
  const tree = grow(1);
  return tree === undefined || length > config.maxLength ? undefined : { tree, length };
}

export function checkConfig(c: ListOpsConfig): void {
  if (c.minLength > c.maxLength) {
    throw new DataError(`ListOps: minLength ${c.minLength} is above maxLength ${c.maxLength}`);
  }
  if (c.maxArgs < 2) throw new DataError(`ListOps: maxArgs must be ≥ 2, got ${c.maxArgs}`);
  if (c.maxDepth < 2 && c.minLength > 1) {
    throw new DataError(`ListOps: maxDepth ${c.maxDepth} allows only single digits, below minLength ${c.minLength}`);
  }
}

export interface ListOpsSamples {
  count: number;
  tokens: Uint8Array; // count × maxLength ids, padded with PAD_ID
  lengths: Int32Array;
  labels: Int32Array;
  attempts: number;
}

/**
 * `count` distinct expressions with minLength ≤ tokens ≤ maxLength (rejection sampling as in the recipe;
 * distinct so that no expression lands in two splits). Fails clearly when the range is too hard to hit.
 */
export function generateListOps(
  rng: Rng,
  config: ListOpsConfig,
  count: number,
  maxAttempts = 10_000 + 2_000 * count,
): ListOpsSamples {
  checkConfig(config);
  const L = config.maxLength;
  const tokens = new Uint8Array(count * L);
  const lengths = new Int32Array(count);
  const labels = new Int32Array(count);
  const seen = new Set<string>();
  let n = 0;
  let attempts = 0;
  while (n < count) {
    if (attempts++ >= maxAttempts) {
      throw new DataError(
        `ListOps: only ${n} of ${count} distinct expressions with ${config.minLength}–${config.maxLength} tokens ` +
          `after ${maxAttempts} attempts (maxDepth ${config.maxDepth}, maxArgs ${config.maxArgs}); ` +
          'widen the length range or change depth/arguments',
      );
    }
    const g = generateTree(rng, config);
    if (!g || g.length < config.minLength) continue;
    const ids = Uint8Array.from(encode(toTokens(g.tree)));
    const key = createHash('sha1').update(ids).digest('base64');
    if (seen.has(key)) continue;
    seen.add(key);
    tokens.set(ids, n * L);
    lengths[n] = ids.length;
    labels[n] = evaluate(g.tree);
    n++;
  }
  return { count, tokens, lengths, labels, attempts };
}
