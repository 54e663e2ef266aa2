import { InvalidArgumentError } from 'commander';

/** Helpers shared by the `s4op` subcommands: JSON vs human output, and errors that name the problem. */

export interface OutputOptions {
  json?: boolean;
}

/** Prints `value` as JSON on stdout when --json was given, else the human text. */
export function emit(opts: OutputOptions, value: unknown, human: () => string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else process.stdout.write(`${human()}\n`);
}

/** An error whose message is meant for the user as is (no stack trace). */
export class UserError extends Error {
  override name = 'UserError';
}

/** Log lines that must not pollute --json stdout go to stderr. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Option parsers shared by the subcommands (commander calls them with the flag's text). */
export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a non-negative integer');
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
