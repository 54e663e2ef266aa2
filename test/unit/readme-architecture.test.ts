/**
 * The README's architecture map is the tree: every source folder of the three workspaces appears in it, and every
 * folder or file it names (the first word of a line, placed by its indentation) exists.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/processes.js';

interface MapEntry {
  path: string;
  line: number;
}

/** The entries of the first fenced block after `## Architecture` whose first line names `shared/src/`. */
export function readMap(readme: string): MapEntry[] {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l.startsWith('## Architecture'));
  if (start < 0) throw new Error('README has no "## Architecture" section');
  let i = lines.findIndex((l, k) => k > start && l.startsWith('```') && lines[k + 1]?.startsWith('shared/src/'));
  if (i < 0) throw new Error('the architecture section has no map starting at shared/src/');
  const entries: MapEntry[] = [];
  const stack: { indent: number; dir: string }[] = [];
  for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) {
    const line = lines[i]!;
    const indent = line.length - line.trimStart().length;
    const word = line.trim().split(/\s+/)[0] ?? '';
    const isDir = /^[a-z0-9._-]+(\/[a-z0-9._-]+)*\/$/.test(word);
    const isFile = /^[a-z0-9._-]+\.(ts|mjs|md)$/.test(word);
    if (!isDir && !isFile) continue; // a description continued on the next line
    while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
    const parent = stack.length ? stack[stack.length - 1]!.dir : '';
    const full = parent + word;
    entries.push({ path: full, line: i + 1 });
    if (isDir) stack.push({ indent, dir: full });
  }
  return entries;
}

function sourceDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    out.push(`${rel}/`);
    for (const d of readdirSync(path.join(REPO, rel), { withFileTypes: true })) {
      if (d.isDirectory()) walk(`${rel}/${d.name}`);
    }
  };
  walk(root);
  return out;
}

describe('README architecture map', () => {
  const map = readMap(readFileSync(`${REPO}README.md`, 'utf8'));

  it('names only folders and files that exist', () => {
    expect(map.length).toBeGreaterThan(30);
    const missing = map.filter((e) => !existsSync(path.join(REPO, e.path))).map((e) => `README.md:${e.line} ${e.path}`);
    expect(missing).toEqual([]);
  });

  it('lists every source folder of shared, host and agent', () => {
    const listed = new Set(map.map((e) => e.path));
    const unlisted = ['shared/src', 'host/src', 'agent/src'].flatMap(sourceDirs).filter((d) => !listed.has(d));
    expect(unlisted).toEqual([]);
  });

  it('places entries by indentation, and a missing folder is reported', () => {
    const readme = [
      '## Architecture',
      '```',
      'shared/src/          x',
      'host/src/',
      '  ssm/               the maths',
      '                     continued: not an entry',
      '    s4d/             S4D',
      '  nowhere/           gone',
      '```',
    ].join('\n');
    expect(readMap(readme).map((e) => e.path)).toEqual([
      'shared/src/',
      'host/src/',
      'host/src/ssm/',
      'host/src/ssm/s4d/',
      'host/src/nowhere/',
    ]);
    expect(existsSync(path.join(REPO, 'host/src/nowhere/'))).toBe(false);
  });
});
