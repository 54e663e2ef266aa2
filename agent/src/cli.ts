#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '@s4op/shared';
import { deviceFacts } from './device.js';

// The agent installs on boards with the fewest packages possible, so it parses its flags with
// Node's own util.parseArgs instead of taking a CLI-parser dependency.

const HELP = `s4op-agent ${PACKAGE_VERSION}: runs on the board, measures ONNX candidates for the S4oP host

Usage:
  s4op-agent info [--json]          print this board's device facts
  s4op-agent --help | --version

Options:
  --json       print JSON
  -h, --help   show this help
  -v, --version
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return 0;
  }
  const [command] = positionals;
  if (command === 'info') {
    const facts = { version: PACKAGE_VERSION, protocol: PROTOCOL_VERSION, device: await deviceFacts() };
    if (values.json) process.stdout.write(`${JSON.stringify(facts, null, 2)}\n`);
    else {
      const d = facts.device;
      process.stdout.write(
        [
          `s4op-agent ${facts.version} (protocol ${facts.protocol}) on ${d.hostname}`,
          `cpu: ${d.cpu_model}, ${d.cores} cores, ${d.cpu_max_mhz ?? '?'} MHz max`,
          `memory: ${d.memory_total_mb} MB, os: ${d.os} (${d.arch})`,
          `temperature: ${d.temperature_c ?? 'not readable'}${d.temperature_c === null ? '' : ' °C'}`,
          `board: ${d.board_model ?? 'not a known board'}`,
        ].join('\n') + '\n',
      );
    }
    return 0;
  }
  process.stderr.write(
    command ? `s4op-agent: unknown command "${command}"\n\n${HELP}` : HELP,
  );
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`s4op-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
