import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The project's import rules, read from the source: dependencies point one way (cli → phases →
 * engine → transfer → ssh), so a folder lower down never reaches up, and no file depends on itself
 * through others. The graph holds every relative import of src/: `import` and `import type`,
 * `export ... from`, dynamic `import('...')` and `import('...').T` in types.
 */

const ROOT = resolve(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');

/**
 * What a folder of src/ must not import from, one rule a line: `from` and `forbidden` are folders
 * of src/ (a folder includes its subfolders).
 */
const RULES: ReadonlyArray<{ from: string; forbidden: readonly string[]; why: string }> = [
  { from: 'transfer', forbidden: ['engine', 'artifacts', 'config', 'render', 'os', 'phases', 'pki', 'upstream', 'cli', 'health'], why: 'transfer moves bytes to hosts over ssh/ and nothing else' },
  { from: 'artifacts', forbidden: ['engine'], why: 'artifacts hands the engine files to send; the codec and the upload come from transfer/' },
  {
    from: 'engine',
    forbidden: ['config', 'render', 'os', 'phases', 'pki', 'artifacts', 'upstream', 'components', 'cli', 'health'],
    why: 'the engine knows hosts, resources and procedures, not clusters: callers pass their types through it',
  },
  {
    from: 'components',
    forbidden: ['phases', 'pki', 'render', 'health', 'engine', 'cli', 'artifacts', 'os', 'preflight', 'runtime', 'state', 'transfer'],
    why: 'the component catalog sits low: it reads config/ and upstream/, and what sits above reads it',
  },
  { from: 'render', forbidden: ['pki', 'phases', 'engine', 'health', 'cli'], why: "templates' paths, PKI paths and ports come from the component catalog" },
  { from: 'health', forbidden: ['phases', 'pki', 'cli'], why: 'health reads what runs where, and how to ask it, from the component catalog' },
];

/**
 * Imports that close a cycle known today, each `[importer, imported]` (paths from the repository
 * root). The cycle check leaves these edges out: a new cycle fails, and an entry whose import is
 * gone fails too, so that it is removed here. To be removed by the refactoring in progress.
 */
const KNOWN_CYCLE_EDGES: ReadonlyArray<readonly [string, string]> = [];

/** Every .ts file under `dir`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The module specifiers a file imports, whatever the form. */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) out.push(node.moduleSpecifier.text);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression))
      out.push(node.moduleReference.expression.text);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) out.push(node.arguments[0].text);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) out.push(node.argument.literal.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** The src/ file a relative specifier names (`./x.js` is `./x.ts`), or undefined for a package, node: or a non-source file. */
function resolveImport(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const base = resolve(dirname(from), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((c) => c.endsWith('.ts') && existsSync(c) && statSync(c).isFile());
}

const rel = (path: string) => relative(ROOT, path).split(sep).join('/');

/** Each src/ file (repository-relative) and the src/ files it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const targets = specifiers(file).flatMap((s) => {
      const target = resolveImport(file, s);
      return target?.startsWith(SRC + sep) ? [rel(target)] : [];
    });
    graph.set(rel(file), [...new Set(targets)].sort());
  }
  return graph;
}

const inFolder = (file: string, folder: string) => file.startsWith(`src/${folder}/`);

/** The strongly connected components of more than one file (or a file that imports itself), by Tarjan's algorithm. */
function tangles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return out;
}

/** A shortest cycle through `start` within `component`, as a chain `a → b → ... → a`. */
function cycleThrough(graph: ReadonlyMap<string, readonly string[]>, component: readonly string[], start: string): string {
  const inside = new Set(component);
  const previous = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const chain = [v];
        while (chain[0] !== start) chain.unshift(previous.get(chain[0]!)!);
        return [...chain, start].join(' → ');
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return component.join(', ');
}

const graph = importGraph();

describe('import rules', () => {
  it('reads the source: every file of src/ is in the graph', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get('src/transfer/upload.ts')).toContain('src/transfer/tar-listing.ts');
  });

  it.each(RULES.map((r) => [r.from, r] as const))('src/%s/ imports nothing from the folders above it', (_, rule) => {
    for (const folder of [rule.from, ...rule.forbidden]) expect(existsSync(join(SRC, folder)), `src/${folder}/ (named in RULES) exists`).toBe(true);
    const violations = [...graph]
      .filter(([file]) => inFolder(file, rule.from))
      .flatMap(([file, targets]) => targets.filter((t) => rule.forbidden.some((f) => inFolder(t, f))).map((t) => `${file} imports ${t}`));
    expect(violations, rule.why).toEqual([]);
  });

  it('has no import cycle among the files of src/, but the known ones', () => {
    const stale = KNOWN_CYCLE_EDGES.filter(([from, to]) => !graph.get(from)?.includes(to)).map(([from, to]) => `${from} no longer imports ${to}: remove it from KNOWN_CYCLE_EDGES`);
    expect(stale).toEqual([]);
    const pruned = new Map([...graph].map(([file, targets]) => [file, targets.filter((t) => !KNOWN_CYCLE_EDGES.some(([from, to]) => from === file && to === t))]));
    // One chain per tangle, and the tangle's other files: breaking the chain may leave a cycle among them.
    const cycles = tangles(pruned).map((component) => {
      const chain = cycleThrough(pruned, component, component[0]!);
      const others = component.filter((f) => !chain.split(' → ').includes(f));
      return others.length ? `${chain} (tangled with it: ${others.join(', ')})` : chain;
    });
    expect(cycles).toEqual([]);
  });
});
