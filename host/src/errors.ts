/**
 * Errors of the library whose message is meant for the user as is: bad input or configuration (a dataset
 * option, a run id, a checkpoint without what a run needs). The CLI (cli/main.ts) prints their message
 * without a stack trace and exits 2, as for its own UserError; a program using the library can catch them
 * by class.
 */
export class InputError extends Error {
  override name = 'InputError';
}
