/**
 * Adding a criterion, an export variant or a runtime takes one new file and its entry in the registry, and the
 * generic tests pick it up without an edit. In a copy of the sources (host, agent, shared, the tests), this
 * writes a dummy of each as one file, adds it to its registry (one import and one list entry, nothing else:
 * the registry's diff is checked), and runs the generic test files there — prune-criteria, export-parity and
 * protocol-runtimes — filtered to the tests whose names say "dummy": each dummy must appear in their results
 * and pass. A registry a generic test stopped reading, or a dummy needing another edit, fails this test.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const GENERIC = [
  'test/unit/prune-criteria.test.ts',
  'test/unit/export-parity.test.ts',
  'test/unit/protocol-runtimes.test.ts',
];

const DUMMIES = [
  {
    registry: 'host/src/prune/criteria/registry.ts',
    file: 'host/src/prune/criteria/dummy.ts',
    importLine: "import { dummy } from './dummy.js';",
    entry: '  dummy,',
    list: 'export const CRITERIA_LIST',
    source: `import type { ImportanceCriterion } from './criterion.js';

/** Scores a channel by its index: deterministic, one per active channel. */
export const dummy: ImportanceCriterion = {
  name: 'dummy-criterion',
  summary: 'a test dummy',
  score: (model) => model.activeOperators().map((layer) => layer.map((h) => h + 1)),
};
`,
  },
  {
    registry: 'host/src/export/variants/registry.ts',
    file: 'host/src/export/variants/conv-dummy.ts',
    importLine: "import { convDummy } from './conv-dummy.js';",
    entry: '  convDummy,',
    list: 'export const VARIANTS',
    source: `import { convDirect } from './conv-direct.js';
import type { ConvVariant } from './variant.js';

/** The direct convolution under another name. */
export const convDummy: ConvVariant = { ...convDirect, name: 'dummy-variant', summary: 'a test dummy' };
`,
  },
  {
    registry: 'agent/src/runtimes/registry.ts',
    file: 'agent/src/runtimes/dummy.ts',
    importLine: "import { dummyRuntime } from './dummy.js';",
    entry: '  dummyRuntime,',
    list: 'export const RUNTIMES',
    source: `import type { Availability, Runtime } from './runtime.js';

export const dummyRuntime: Runtime = {
  name: 'dummy-runtime',
  available: async (): Promise<Availability> => ({ ok: false, reason: 'a test dummy' }),
  load: async () => {
    throw new Error('a test dummy');
  },
  describe: () => ({}),
};
`,
  },
];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Adds the import after the registry's last import and the entry as the list's last line. */
function addToRegistry(text: string, d: (typeof DUMMIES)[number]): string {
  const lines = text.split('\n');
  const lastImport = lines.reduce((k, l, i) => (l.startsWith('import ') ? i : k), -1);
  lines.splice(lastImport + 1, 0, d.importLine);
  const start = lines.findIndex((l) => l.startsWith(d.list));
  const end = lines.findIndex((l, i) => i > start && l.startsWith('];'));
  if (start < 0 || end < 0) throw new Error(`${d.registry}: no list ${d.list} = [ … ];`);
  lines.splice(end, 0, d.entry);
  return lines.join('\n');
}

describe('registries: a dummy criterion, variant and runtime are one file and one registry entry each', () => {
  it('the generic tests run each dummy, and it passes', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-registries-'));
    dirs.push(dir);
    for (const p of [
      'host/src',
      'agent/src',
      'shared/src',
      'test/helpers',
      ...GENERIC,
      'vitest.config.ts',
      'package.json',
    ]) {
      cpSync(path.join(REPO, p), path.join(dir, p), { recursive: true });
    }
    symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    for (const d of DUMMIES) {
      writeFileSync(path.join(dir, d.file), d.source);
      const file = path.join(dir, d.registry);
      const before = readFileSync(file, 'utf8');
      const after = addToRegistry(before, d);
      writeFileSync(file, after);
      // The registry's whole change: its import and its entry, two added lines.
      expect(after.split('\n').filter((l) => !before.split('\n').includes(l))).toEqual([d.importLine, d.entry]);
    }
    const out = path.join(dir, 'results.json');
    const run = spawnSync(
      process.execPath,
      [
        path.join(REPO, 'node_modules/vitest/vitest.mjs'),
        'run',
        '--root',
        dir,
        '--project',
        'unit',
        '-t',
        'dummy',
        '--reporter',
        'json',
        '--outputFile',
        out,
        ...GENERIC,
      ],
      { cwd: dir, encoding: 'utf8', timeout: 240_000 },
    );
    expect(run.status, `${run.stdout}\n${run.stderr}`.slice(-4000)).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
    };
    const ran = report.testResults.flatMap((f) =>
      f.assertionResults
        .filter((a) => a.status !== 'skipped' && a.status !== 'pending')
        .map((a) => ({ ...a, file: path.basename(f.name) })),
    );
    for (const a of ran) expect(a.status, a.fullName).toBe('passed');
    const names = (file: string, dummy: string) => ran.filter((a) => a.file === file && a.fullName.includes(dummy));
    expect(names('prune-criteria.test.ts', 'dummy-criterion').length).toBeGreaterThanOrEqual(1);
    // Both SSM kinds × four pruning rates × two runtimes, and the architecture tests iterate it inside their bodies.
    expect(names('export-parity.test.ts', 'dummy-variant').length).toBeGreaterThanOrEqual(16);
    expect(names('protocol-runtimes.test.ts', 'dummy-runtime').length).toBeGreaterThanOrEqual(1);
  }, 300_000);
});
