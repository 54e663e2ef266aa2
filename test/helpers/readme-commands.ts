/**
 * Keeps the README's commands true: finds every `s4op` / `s4op-agent` invocation in the fenced shell blocks of a
 * Markdown file and checks it against the CLI's own `--help` — the subcommand path must exist, and every option
 * must be one that command lists. Values are not validated (they are placeholders like `ck` or `…`).
 */

export type CliName = 's4op' | 's4op-agent';

export interface DocCommand {
  file: string;
  /** 1-based line of the command's first line in the file. */
  line: number;
  cli: CliName;
  args: string[];
  /** The command as written (after joining continuation lines), for messages. */
  text: string;
}

/** What a `--help` text says about one command level. */
export interface HelpInfo {
  /** Long and short options, e.g. `--port`, `-v`, with whether each takes a value. */
  options: Map<string, { value: boolean }>;
  /** Subcommands listed (commander's "Commands:" section, or the agent's `s4op-agent NAME` usage lines). */
  commands: Set<string>;
  /** Whether a positional that is not a subcommand is an error at this level. */
  onlyCommands: boolean;
}

/** Runs `<cli> ...path --help` (or equivalent) and returns its parsed help, or an error text. */
export type HelpSource = (cli: CliName, path: string[]) => Promise<HelpInfo | { error: string }>;

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console', 'zsh']);

/** Splits one shell line into words and control operators, honouring quotes; drops a trailing comment. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      has = true;
      continue;
    }
    if (c === '#' && !has) break; // a comment starts a word
    if (/\s/.test(c)) {
      if (has) words.push(cur);
      cur = '';
      has = false;
      continue;
    }
    const two = line.slice(i, i + 2);
    if (two === '&&' || two === '||' || c === ';' || c === '|' || c === '&') {
      if (has) words.push(cur);
      cur = '';
      has = false;
      const op = two === '&&' || two === '||' ? two : c;
      words.push(op);
      i += op.length - 1;
      continue;
    }
    cur += c;
    has = true;
  }
  if (has) words.push(cur);
  return words;
}

const OPERATORS = new Set(['&&', '||', ';', '|', '&']);
const PREFIXES = new Set(['sudo', 'env', 'exec', 'time', 'nohup']);

/** Every `s4op` / `s4op-agent` invocation in the fenced shell blocks of a Markdown text. */
export function extractCommands(markdown: string, file: string): DocCommand[] {
  const lines = markdown.split('\n');
  const found: DocCommand[] = [];
  let fence: string | null = null;
  let shell = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const open = /^\s*(`{3,}|~{3,})\s*([\w-]*)/.exec(raw);
    if (fence === null) {
      if (open) {
        fence = open[1]!;
        shell = SHELL_LANGS.has(open[2]!.toLowerCase());
      }
      continue;
    }
    if (raw.trim().startsWith(fence)) {
      fence = null;
      continue;
    }
    if (!shell) continue;
    const first = i;
    let text = raw;
    while (/\\\s*$/.test(text) && i + 1 < lines.length) text = text.replace(/\\\s*$/, ' ') + lines[++i]!;
    text = text.replace(/^\s*\$\s+/, ''); // a console prompt
    const words = shellWords(text);
    let start = 0;
    for (let w = 0; w <= words.length; w++) {
      if (w < words.length && !OPERATORS.has(words[w]!)) continue;
      const seg = words.slice(start, w);
      start = w + 1;
      let k = 0;
      while (k < seg.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(seg[k]!) || PREFIXES.has(seg[k]!))) k++;
      if (seg[k] === 'npx') {
        k++;
        while (k < seg.length && seg[k]!.startsWith('-')) k++; // npx --no-install
      }
      const cli = seg[k];
      if (cli === 's4op' || cli === 's4op-agent')
        found.push({ file, line: first + 1, cli, args: seg.slice(k + 1), text: text.trim() });
    }
  }
  return found;
}

/** Parses commander's help and the agent's hand-written help alike. */
export function parseHelp(text: string, cli: CliName): HelpInfo {
  const options = new Map<string, { value: boolean }>();
  const commands = new Set<string>();
  const lines = text.split('\n');
  let section = '';
  for (const line of lines) {
    const head = /^(\w[\w ]*):/.exec(line);
    if (head) section = head[1]!;
    const opt = /^\s+((?:-[A-Za-z], )*)(--[A-Za-z][\w-]*)(?: (\S+))?(?:\s{2,}|\s*$)/.exec(line);
    if (opt && section !== 'Usage') {
      const value = opt[3] !== undefined;
      options.set(opt[2]!, { value });
      for (const s of opt[1]!.matchAll(/-([A-Za-z])/g)) options.set(`-${s[1]!}`, { value });
      continue;
    }
    if (section === 'Commands') {
      const c = /^ {2}([a-z][\w-]*)\b/.exec(line);
      if (c) commands.add(c[1]!);
    }
    if (cli === 's4op-agent' && section === 'Usage') {
      const c = /^\s+s4op-agent ([a-z][\w-]*)\b/.exec(line);
      if (c) commands.add(c[1]!);
    }
  }
  const usage = /Usage:\s*(.*)/.exec(text)?.[1] ?? '';
  // commander: "s4op [options] [command]" takes nothing else; the agent's top level takes only its commands.
  const onlyCommands =
    commands.size > 0 &&
    (cli === 's4op-agent' || (/\[command\]/.test(usage) && !/<[^>]+>|\[(?!options\]|command\])[^\]]+\]/.test(usage)));
  return { options, commands, onlyCommands };
}

/** Problems with one command, each naming the file and line; empty when it matches the CLI's help. */
export async function checkCommand(cmd: DocCommand, help: HelpSource): Promise<string[]> {
  const where = `${cmd.file}:${cmd.line}: \`${cmd.text}\``;
  const path: string[] = [];
  let info = await help(cmd.cli, path);
  if ('error' in info) return [`${where}: ${cmd.cli} --help failed: ${info.error}`];
  const problems: string[] = [];
  const args = cmd.args.map((a) => (/^\[-.*\]$/.test(a) ? a.slice(1, -1) : a)); // "[--json]" as written in a synopsis
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      const name = a.startsWith('--') ? a.split('=')[0]! : a;
      const known = info.options.get(name) ?? (name === '--help' || name === '-h' ? { value: false } : undefined);
      if (!known) {
        problems.push(`${where}: ${[cmd.cli, ...path].join(' ')} has no option ${name}`);
        continue;
      }
      if (known.value && !a.includes('=')) i++;
      continue;
    }
    if (info.commands.has(a)) {
      if (a === 'help') {
        // `s4op help train`: the rest names a command path.
        // (`s4op frobnicate --help` prints the top-level help and exits 0, so walk the listed commands.)
        let at = info;
        for (const name of args.slice(i + 1).filter((x) => !x.startsWith('-'))) {
          if (!at.commands.has(name)) {
            problems.push(
              `${where}: ${[cmd.cli, ...path, name].join(' ')} is not a command (commands: ${[...at.commands].join(', ')})`,
            );
            break;
          }
          const next = await help(cmd.cli, [...path, name]);
          if ('error' in next) {
            problems.push(`${where}: ${[cmd.cli, ...path, name].join(' ')} --help failed: ${next.error}`);
            break;
          }
          path.push(name);
          at = next;
        }
        break;
      }
      path.push(a);
      const next = await help(cmd.cli, path);
      if ('error' in next)
        return [...problems, `${where}: ${[cmd.cli, ...path].join(' ')} --help failed: ${next.error}`];
      info = next;
      continue;
    }
    if (info.onlyCommands)
      problems.push(
        `${where}: ${[cmd.cli, ...path].join(' ')} has no command "${a}" (commands: ${[...info.commands].join(', ')})`,
      );
  }
  return problems;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export const headingSlug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

/**
 * Relative links of Markdown files that lead nowhere: a missing file, or an anchor no heading of the target
 * has. `files` maps a repository-relative path to its text; `exists` answers for other paths.
 */
export function brokenLinks(files: Map<string, string>, exists: (repoPath: string) => boolean): string[] {
  const anchors = new Map<string, Set<string>>();
  const anchorsOf = (f: string) => {
    let set = anchors.get(f);
    if (!set) {
      set = new Set<string>();
      let fence = false;
      for (const line of files.get(f)!.split('\n')) {
        if (/^\s*(`{3,}|~{3,})/.test(line)) fence = !fence;
        const h = fence ? null : /^#{1,6}\s+(.*)$/.exec(line);
        if (h) set.add(headingSlug(h[1]!));
      }
      anchors.set(f, set);
    }
    return set;
  };
  const problems: string[] = [];
  for (const [file, text] of files) {
    const lines = text.split('\n');
    let fence = false;
    lines.forEach((line, i) => {
      if (/^\s*(`{3,}|~{3,})/.test(line)) fence = !fence;
      if (fence) return;
      for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, mailto:
        const [rel, anchor] = target.split('#') as [string, string | undefined];
        const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/') + 1) : '';
        const to = rel === '' ? file : normalise(dir + rel);
        if (!files.has(to) && !exists(to)) {
          problems.push(`${file}:${i + 1}: link to ${target}: no file ${to}`);
          continue;
        }
        if (anchor !== undefined && files.has(to) && !anchorsOf(to).has(anchor))
          problems.push(`${file}:${i + 1}: link to ${target}: ${to} has no heading #${anchor}`);
      }
    });
  }
  return problems;
}

function normalise(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '..') out.pop();
    else if (part !== '.' && part !== '') out.push(part);
  }
  return out.join('/');
}
