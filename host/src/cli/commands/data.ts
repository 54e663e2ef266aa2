import type { Command } from 'commander';
import { emit } from '../util.js';
import { addDatasetOptions, datasetOptionsFromFlags, parseCount as int, type DatasetFlags } from '../options.js';
import { loadDataset, type DatasetInfo } from '../../data/dataset.js';

export function register(program: Command): void {
  const data = program.command('data').description('datasets: sMNIST, psMNIST, ListOps, and your .npy/.jsonl files');
  const info = data
    .command('info')
    .argument(
      '<name|path>',
      `a built-in name (smnist, smnist14, psmnist, psmnist14, listops), NAME for NAME.x.npy + NAME.y.npy, or a .jsonl file`,
    )
    .description('print length, input kind, classes, split sizes and class balance')
    .option('--json', 'print JSON (the full DatasetInfo, with the spec that rebuilds the data)')
    .option('--seed <n>', 'split seed (and ListOps generation seed)', int);
  addDatasetOptions(info).action(async (spec: string, flags: DatasetFlags) => {
    const dataset = await loadDataset(spec, datasetOptionsFromFlags(flags));
    emit(flags, dataset.info, () => describe(dataset.info));
  });
}

const MAX_ROWS = 20;

export function describe(info: DatasetInfo): string {
  const s = info.spec;
  const input =
    info.inputKind === 'tokens'
      ? `tokens (vocabulary ${info.vocabSize})`
      : `continuous, ${info.inputSize} feature${info.inputSize === 1 ? '' : 's'} per step`;
  const source = [
    s.package ? String(s.package) : undefined,
    `seed ${String(s.seed)}`,
    s.permutationSeed !== undefined ? `permutation seed ${String(s.permutationSeed)}` : undefined,
    s.permutation !== undefined && s.permutationSeed === undefined ? 'permutation given' : undefined,
    info.name === 'listops'
      ? `${String(s.minLength)}–${String(s.maxLength)} tokens, depth ≤ ${String(s.maxDepth)}, ≤ ${String(s.maxArgs)} args`
      : undefined,
  ].filter((v) => v !== undefined);
  const lines = [
    `dataset   ${info.name}  (${source.join(', ')})`,
    `length    ${info.length} steps, ${input}`,
    `classes   ${info.numClasses}${info.multiLabel ? ' (multi-label)' : ''}`,
    `splits    train ${info.splits.train}, val ${info.splits.val}, test ${info.splits.test}`,
    `balance   ${info.multiLabel ? 'positives' : 'examples'} per class`,
  ];
  const b = info.classBalance;
  const pct = (n: number, total: number) => (total ? `${((100 * n) / total).toFixed(1)}%` : '-');
  const totals = {
    train: info.multiLabel ? b.train.reduce((a, c) => a + c, 0) : info.splits.train,
    val: info.multiLabel ? b.val.reduce((a, c) => a + c, 0) : info.splits.val,
    test: info.multiLabel ? b.test.reduce((a, c) => a + c, 0) : info.splits.test,
  };
  const cell = (n: number, total: number) => `${n} (${pct(n, total)})`.padStart(16);
  lines.push(`  class ${'train'.padStart(16)}${'val'.padStart(16)}${'test'.padStart(16)}`);
  for (let c = 0; c < Math.min(info.numClasses, MAX_ROWS); c++) {
    lines.push(
      `  ${String(c).padEnd(5)} ${cell(b.train[c], totals.train)}${cell(b.val[c], totals.val)}${cell(b.test[c], totals.test)}`,
    );
  }
  if (info.numClasses > MAX_ROWS) lines.push(`  … ${info.numClasses - MAX_ROWS} more classes (see --json)`);
  const nonzero = b.train.filter((n) => n > 0);
  if (nonzero.length) {
    const ratio = Math.max(...nonzero) / Math.min(...nonzero);
    lines.push(
      `  largest / smallest class in train: ${ratio.toFixed(2)}×${nonzero.length < info.numClasses ? `; ${info.numClasses - nonzero.length} classes absent` : ''}`,
    );
  }
  return lines.join('\n');
}
