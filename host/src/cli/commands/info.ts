import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '@s4op/shared';
import { describeBackend, initBackend } from '../../backend.js';
import { emit } from '../util.js';

export function register(program: Command): void {
  program
    .command('info')
    .description('show versions and the tfjs backend this machine computes on')
    .option('--backend <name>', 'force a tfjs backend (tensorflow, wasm, cpu)')
    .option('--json', 'print JSON')
    .action(async (opts: { backend?: string; json?: boolean }) => {
      const choice = await initBackend(opts.backend);
      const facts = {
        version: PACKAGE_VERSION,
        protocol: PROTOCOL_VERSION,
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        tfjs: tf.version.tfjs,
        backend: choice.name,
        skipped_backends: choice.skipped,
      };
      emit(opts, facts, () =>
        [
          `s4op ${facts.version} (protocol ${facts.protocol})`,
          `node ${facts.node} on ${facts.platform}, tfjs ${facts.tfjs}`,
          describeBackend(choice),
        ].join('\n'),
      );
    });
}
