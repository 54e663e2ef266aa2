#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { PACKAGE_VERSION } from '@s4op/shared';
import { InputError } from '../errors.js';
import { UserError } from './util.js';

interface CommandModule {
  register(program: Command): void;
}

/** Each subcommand lives in ./commands/<name>.ts and registers itself here; loaded lazily, in this order. */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  info: () => import('./commands/info.js'),
  data: () => import('./commands/data.js'),
  train: () => import('./commands/train.js'),
  import: () => import('./commands/import.js'),
  serve: () => import('./commands/serve.js'),
  bench: () => import('./commands/bench.js'),
  export: () => import('./commands/export.js'),
  prune: () => import('./commands/prune.js'),
  runs: () => import('./commands/runs.js'),
  deploy: () => import('./commands/deploy.js'),
  fleet: () => import('./commands/fleet.js'),
  deployments: () => import('./commands/deployments.js'),
  report: () => import('./commands/report.js'),
  worker: () => import('./commands/worker.js'),
  workers: () => import('./commands/workers.js'),
};

/**
 * The command named on the command line alone (`s4op fleet status` should not pay for training and
 * export code: 0.1 s instead of ~1 s to start), every command for help or an unknown name.
 */
async function loadCommands(argv: string[]): Promise<CommandModule[]> {
  const named = argv[2];
  if (named && Object.prototype.hasOwnProperty.call(COMMANDS, named)) return [await COMMANDS[named]!()];
  return Promise.all(Object.values(COMMANDS).map((load) => load()));
}

let loaded: CommandModule[] = [];

function buildProgram(): Command {
  const program = new Command()
    .name('s4op')
    .description('Prune S4/S4D state-space models operator by operator, with the edge board in the loop')
    .version(PACKAGE_VERSION, '-v, --version', 'output the version number (-V too)')
    .showHelpAfterError()
    .exitOverride();
  for (const command of loaded) command.register(program);
  return program;
}

/** `-V` was the version flag before `-v` (which s4op-agent uses too): both keep working. */
const versionAlias = (argv: string[]): string[] =>
  argv[2] === '-V' ? [...argv.slice(0, 2), '--version', ...argv.slice(3)] : argv;

async function main(argv: string[]): Promise<number> {
  argv = versionAlias(argv);
  try {
    loaded = await loadCommands(argv);
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    // The CLI's own argument errors and the library's input errors: the message alone, exit code 2.
    if (err instanceof UserError || err instanceof InputError) {
      process.stderr.write(`s4op: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`s4op: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
