#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { PACKAGE_VERSION } from '@s4op/shared';
import { UserError } from './cli-util.js';
import * as info from './commands/info.js';
import * as data from './commands/data.js';
import * as train from './commands/train.js';
import * as importCmd from './commands/import.js';
import * as serve from './commands/serve.js';
import * as bench from './commands/bench.js';
import * as prune from './commands/prune.js';
import * as runs from './commands/runs.js';
import * as exportCmd from './commands/export.js';
import * as deploy from './commands/deploy.js';
import * as fleet from './commands/fleet.js';
import * as deployments from './commands/deployments.js';
import * as report from './commands/report.js';

/** Each subcommand lives in ./commands/<name>.ts and registers itself here. */
const COMMANDS = [info, data, train, importCmd, serve, bench, exportCmd, prune, runs, deploy, fleet, deployments, report];

function buildProgram(): Command {
  const program = new Command()
    .name('s4op')
    .description('Prune S4/S4D state-space models operator by operator, with the edge board in the loop')
    .version(PACKAGE_VERSION)
    .showHelpAfterError()
    .exitOverride();
  for (const command of COMMANDS) command.register(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError) {
      process.stderr.write(`s4op: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`s4op: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
