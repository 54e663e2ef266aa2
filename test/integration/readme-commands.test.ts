/**
 * Every `s4op` / `s4op-agent` command in a fenced shell block of README.md and docs/*.md is checked against
 * the built CLIs' own `--help`: its subcommand must exist and every option must be one that command lists.
 * A failure names the file and line. Each distinct help text is fetched once, a few processes at a time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_CLI, HOST_CLI, REPO, runCli } from '../helpers/processes.js';
import {
  brokenLinks,
  checkCommand,
  extractCommands,
  headingSlug,
  parseHelp,
  shellWords,
  type CliName,
  type DocCommand,
  type HelpInfo,
  type HelpSource,
} from '../helpers/readme-commands.js';

const PARALLEL = 3;
let running = 0;
const queue: (() => void)[] = [];
async function limited<T>(job: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await job();
  } finally {
    running--;
    queue.shift()?.();
  }
}

const cache = new Map<string, Promise<HelpInfo | { error: string }>>();
/** `<cli> ...path --help` from the built CLIs, parsed; once per path. */
const cliHelp: HelpSource = (cli, at) => {
  const key = `${cli} ${at.join(' ')}`;
  let p = cache.get(key);
  if (!p) {
    p = limited(() => runCli(cli === 's4op' ? HOST_CLI : AGENT_CLI, [...at, '--help'], { timeoutMs: 30_000 })).then(
      (r) =>
        r.code === 0 ? parseHelp(r.stdout, cli) : { error: `exit ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}` },
    );
    cache.set(key, p);
  }
  return p;
};

function docFiles(): string[] {
  const docs = path.join(REPO, 'docs');
  let names: string[] = [];
  try {
    names = readdirSync(docs)
      .filter((n) => n.endsWith('.md'))
      .map((n) => path.join('docs', n));
  } catch {
    // no docs folder
  }
  return ['README.md', ...names.sort()];
}

describe('the extractor', () => {
  it('splits shell lines like a shell: quotes, comments, operators', () => {
    expect(shellWords(`npx s4op deploy --gate "p99<=12ms,rss<=200MB" --to tag:pi4 # comment`)).toEqual([
      'npx',
      's4op',
      'deploy',
      '--gate',
      'p99<=12ms,rss<=200MB',
      '--to',
      'tag:pi4',
    ]);
    expect(shellWords(`sudo systemctl enable --now s4op-agent && journalctl -u s4op-agent -f`)).toEqual([
      'sudo',
      'systemctl',
      'enable',
      '--now',
      's4op-agent',
      '&&',
      'journalctl',
      '-u',
      's4op-agent',
      '-f',
    ]);
    expect(shellWords(`--settings '{"spin": false}'`)).toEqual(['--settings', '{"spin": false}']);
  });

  it('finds invocations in shell blocks only, with env prefixes, npx, continuations and their line numbers', () => {
    const md = [
      '# t', // 1
      '```sh', // 2
      'export S4OP_TOKEN=abc', // 3
      'npx s4op serve --port 7480   # listen', // 4
      'S4OP_TOKEN=… s4op-agent --host ws://h:7480 \\', // 5
      '  --name pi-07', // 6
      'node scripts/x.mjs && npx s4op runs', // 7
      'sudo npm install -g ./s4op-agent-0.1.0.tgz', // 8
      '```', // 9
      '```', // 10
      's4op 0.1.0 (protocol 1)', // 11: output, not a command
      '```', // 12
    ].join('\n');
    const got = extractCommands(md, 'X.md').map((c) => [c.line, c.cli, c.args.join(' ')]);
    expect(got).toEqual([
      [4, 's4op', 'serve --port 7480'],
      [5, 's4op-agent', '--host ws://h:7480 --name pi-07'],
      [7, 's4op', 'runs'],
    ]);
  });

  it('catches a bogus option, a bogus subcommand and a bogus agent option, naming the line', async () => {
    const md = [
      'text',
      '```sh',
      'npx s4op prune --checkpoint ck --rates 10,30 --axes operators', // 3: fine
      'npx s4op prune --checkpoint ck --bogus-option 3', // 4
      'npx s4op fleet frobnicate', // 5
      's4op-agent info --json --bogus', // 6
      'npx s4op help train', // 7: fine
      'npx s4op help frobnicate', // 8
      'npx s4op deployments [ID] [--json]', // 9: a synopsis, fine
      '```',
    ].join('\n');
    const problems = (await Promise.all(extractCommands(md, 'T.md').map((c) => checkCommand(c, cliHelp)))).flat();
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^T\.md:4: .*s4op prune has no option --bogus-option/);
    expect(problems[1]).toMatch(/^T\.md:5: .*s4op fleet has no command "frobnicate"/);
    expect(problems[2]).toMatch(/^T\.md:6: .*s4op-agent info has no option --bogus/);
    expect(problems[3]).toMatch(/^T\.md:8: .*frobnicate is not a command/);
  });
});

describe('README.md and docs/ commands', () => {
  const commands: DocCommand[] = docFiles().flatMap((f) =>
    extractCommands(readFileSync(path.join(REPO, f), 'utf8'), f),
  );

  it('has commands to check', () => {
    expect(commands.filter((c) => c.file === 'README.md').length).toBeGreaterThan(30);
    expect(new Set(commands.map((c) => c.cli))).toEqual(new Set<CliName>(['s4op', 's4op-agent']));
  });

  it("every command matches the CLI's --help (subcommand exists, options exist)", async () => {
    const problems = (await Promise.all(commands.map((c) => checkCommand(c, cliHelp)))).flat();
    expect(problems, problems.join('\n')).toEqual([]);
  }, 120_000);
});

describe('links between README.md and docs/', () => {
  it('the checker finds a missing file and a missing anchor', () => {
    const files = new Map([
      [
        'README.md',
        '# Top\n## The `npm start` demo, one run\n[a](#the-npm-start-demo-one-run) [b](docs/x.md#nope) [c](docs/y.md) [d](#top)',
      ],
      ['docs/x.md', '# X\n## Real heading\n[back](../README.md#top)'],
    ]);
    expect(headingSlug("What a measurement carries: the device's peak")).toBe(
      'what-a-measurement-carries-the-devices-peak',
    );
    expect(brokenLinks(files, () => false)).toEqual([
      'README.md:3: link to docs/x.md#nope: docs/x.md has no heading #nope',
      'README.md:3: link to docs/y.md: no file docs/y.md',
    ]);
  });

  it('every relative link and anchor resolves', () => {
    const files = new Map(docFiles().map((f) => [f, readFileSync(path.join(REPO, f), 'utf8')] as [string, string]));
    const problems = brokenLinks(files, (p) => existsSync(path.join(REPO, p)));
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
