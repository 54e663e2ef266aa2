import type { Command } from 'commander';
import { emit, UserError } from '../util.js';
import { saveCheckpoint } from '../../model/checkpoint.js';
import { importStateSpaces } from '../../model/import-state-spaces.js';
import { initBackend } from '../../backend.js';

interface ImportFlags {
  from: string;
  out: string;
  prenorm?: boolean;
  multiLabel?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('import')
    .description('import a PyTorch checkpoint (saved as safetensors) into an s4op checkpoint directory')
    .argument(
      '<file>',
      '.safetensors file with the state-spaces S4D example keys (encoder.weight, s4_layers.{i}.kernel.*, …)',
    )
    .requiredOption('--from <layout>', 'source layout: state-spaces')
    .requiredOption('--out <dir>', 'checkpoint directory to write')
    .option('--prenorm', 'the source model normalised before each layer (example.py --prenorm)')
    .option('--multi-label', 'the decoder is trained with BCE over labels')
    .option('--json', 'print JSON')
    .action(async (file: string, flags: ImportFlags) => {
      if (flags.from !== 'state-spaces')
        throw new UserError(`unknown --from layout "${flags.from}"; supported: state-spaces`);
      await initBackend();
      const model = await importStateSpaces(file, { prenorm: flags.prenorm, multiLabel: flags.multiLabel });
      const saved = await saveCheckpoint(flags.out, model, {
        provenance: { imported_from: file, layout: 'state-spaces' },
      });
      const c = model.config;
      emit(
        flags,
        { checkpoint: flags.out, weights_sha256: saved.weights_sha256, model: c },
        () =>
          `imported ${file} → ${flags.out}: S4D, d_model ${c.dModel}, d_state ${c.dState}, ${c.nLayers} layers, ${c.numClasses} classes`,
      );
      model.dispose();
    });
}
