/**
 * What a workspace's sources pull from other packages, read from the syntax tree (so comments and strings
 * that merely mention a package do not count): static imports and re-exports, `import type`, dynamic
 * `import()`, `require()`, `require.resolve()` and `createRequire(…)(…)` / `createRequire(…).resolve(…)`.
 * A specifier held in a `const` of the same file (`const id = 'x'; await import(id)`) is followed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';

export interface BareImport {
  /** The package the specifier names (`@scope/name` or `name`). */
  pkg: string;
  specifier: string;
  file: string;
  line: number;
}

const BUILTINS = new Set(builtinModules);

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`; undefined for relative paths and Node built-ins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return BUILTINS.has(name) ? undefined : name;
}

/** The module specifiers one source file names. */
export function bareImports(source: string, file = 'source.ts'): BareImport[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const consts = new Map<string, string>();
  const found: BareImport[] = [];
  const add = (node: ts.Node, specifier: string) => {
    const pkg = packageOf(specifier);
    if (pkg) found.push({ pkg, specifier, file, line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const stringOf = (e: ts.Expression | undefined): string | undefined => {
    if (!e) return undefined;
    if (ts.isStringLiteralLike(e)) return e.text;
    if (ts.isIdentifier(e)) return consts.get(e.text);
    return undefined;
  };
  const isRequireLike = (e: ts.Expression): boolean =>
    (ts.isIdentifier(e) && e.text === 'require') ||
    (ts.isCallExpression(e) && ts.isIdentifier(e.expression) && e.expression.text === 'createRequire');

  // First pass: string constants, wherever declared (a specifier constant may sit in a function).
  const collect = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.initializer &&
      ts.isStringLiteralLike(node.initializer)
    ) {
      const list = node.parent;
      if (ts.isVariableDeclarationList(list) && list.flags & ts.NodeFlags.Const)
        consts.set(node.name.text, node.initializer.text);
    }
    ts.forEachChild(node, collect);
  };
  collect(sf);

  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteralLike(node.moduleSpecifier)
    ) {
      add(node, node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const s = stringOf(node.moduleReference.expression);
      if (s) add(node, s);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node, node.argument.literal.text);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const arg = stringOf(node.arguments[0]);
      if (arg !== undefined) {
        if (callee.kind === ts.SyntaxKind.ImportKeyword) add(node, arg);
        else if (isRequireLike(callee)) add(node, arg);
        else if (
          ts.isPropertyAccessExpression(callee) &&
          callee.name.text === 'resolve' &&
          isRequireLike(callee.expression)
        )
          add(node, arg);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** Every `.ts` file under `dir` (declaration files included; tests are not under a workspace's src). */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(c|m)?ts$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

export interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/**
 * The imports of `files` whose package `pkg` does not declare (dependencies, optional or peer), minus the
 * package itself and what `allowed` excuses (package name → why).
 */
export function undeclaredImports(
  files: { file: string; source: string }[],
  pkg: PackageJson,
  allowed: Record<string, string> = {},
): BareImport[] {
  const declared = new Set([
    pkg.name,
    ...Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies }),
  ]);
  return files
    .flatMap(({ file, source }) => bareImports(source, file))
    .filter((i) => !declared.has(i.pkg) && !(i.pkg in allowed));
}

/** Reads a workspace's sources and checks them against its package.json. */
export function checkWorkspace(dir: string, allowed: Record<string, string> = {}): BareImport[] {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as PackageJson;
  const files = sourceFiles(path.join(dir, 'src')).map((f) => ({
    file: path.relative(dir, f),
    source: readFileSync(f, 'utf8'),
  }));
  return undeclaredImports(files, pkg, allowed);
}
