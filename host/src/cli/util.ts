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

/** Runs `fn`; an error it throws becomes a UserError with the same message (after `prefix`). */
export function userCheck<T>(fn: () => T, prefix = ''): T {
  try {
    return fn();
  } catch (err) {
    throw new UserError(`${prefix}${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function userCheckAsync<T>(fn: () => Promise<T>, prefix = ''): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new UserError(`${prefix}${err instanceof Error ? err.message : String(err)}`);
  }
}
