import nunjucks from 'nunjucks';

/**
 * Finds every variable a template reads but nobody defines, with its line, before anything renders.
 * nunjucks' own `throwOnUndefined` stops at the first one, cannot name it, and lets `{% if X %}` pass
 * silently; the seed's author lost hours to exactly such unreplaced placeholders.
 *
 * The walk follows nunjucks' scoping: loop variables and `loop` inside `for`, macro arguments and
 * `caller` inside macros, names bound by `set`, `import` and `from ... import` anywhere in the file.
 * `X is defined`, `X is undefined` and `X | default(...)` are the ways to use an optional variable.
 */
export interface UndefinedUse {
  name: string;
  /** 1-based line and column in the template body. */
  line: number;
  column: number;
}

interface AstNode {
  typename: string;
  lineno: number;
  colno: number;
  fields: string[];
  children?: AstNode[];
  value?: unknown;
  [field: string]: unknown;
}

interface Parser {
  parse(src: string, extensions: unknown, opts: nunjucks.ConfigureOptions): AstNode;
}

const parser = (nunjucks as unknown as { parser: Parser }).parser;
const LENIENT_TESTS = new Set(['defined', 'undefined']);
const LENIENT_FILTERS = new Set(['default', 'd']);

/** A template parsed once, to be checked against the variables of each host it renders for. */
export class TemplateScan {
  private readonly root: AstNode;
  private readonly bindings: string[];

  /** Throws nunjucks' own error on a syntax error. */
  constructor(body: string, opts: nunjucks.ConfigureOptions) {
    this.root = parser.parse(body, undefined, opts);
    this.bindings = templateBindings(this.root);
  }

  undefinedIn(defined: ReadonlySet<string>): UndefinedUse[] {
    const bound = new Set([...defined, ...this.bindings]);
    const found = new Map<string, UndefinedUse>();
    walk(this.root, bound, (node) => {
      const use = { name: String(node.value), line: node.lineno + 1, column: node.colno + 1 };
      found.set(`${use.name}:${use.line}`, use);
    });
    return [...found.values()].sort((a, b) => a.line - b.line || a.column - b.column);
  }
}

export function findUndefinedVariables(body: string, defined: ReadonlySet<string>, opts: nunjucks.ConfigureOptions): UndefinedUse[] {
  return new TemplateScan(body, opts).undefinedIn(defined);
}

function isNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && 'typename' in value;
}

/** Names bound for the whole template: set targets, macro names, imports. */
function templateBindings(root: AstNode): string[] {
  const names: string[] = [];
  visitAll(root, (node) => {
    if (node.typename === 'Set') names.push(...symbolNames(node.targets));
    if (node.typename === 'Macro' || node.typename === 'Import') names.push(...symbolNames(node.typename === 'Macro' ? node.name : node.target));
    if (node.typename === 'FromImport') {
      for (const item of (node.names as AstNode | undefined)?.children ?? []) {
        names.push(...symbolNames(item.typename === 'Pair' ? item.value : item));
      }
    }
  });
  return names;
}

function visitAll(node: unknown, visit: (node: AstNode) => void): void {
  if (Array.isArray(node)) {
    node.forEach((n) => visitAll(n, visit));
    return;
  }
  if (!isNode(node)) return;
  visit(node);
  for (const field of node.fields) visitAll(node[field], visit);
}

function symbolNames(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(symbolNames);
  if (!isNode(node)) return [];
  if (node.typename === 'Symbol') return [String(node.value)];
  if (node.typename === 'Pair') return [...symbolNames(node.key), ...symbolNames(node.value)];
  return (node.children ?? []).flatMap(symbolNames);
}

type Report = (symbol: AstNode) => void;

function walk(node: unknown, scope: ReadonlySet<string>, report: Report): void {
  if (Array.isArray(node)) {
    node.forEach((n) => walk(n, scope, report));
    return;
  }
  if (!isNode(node)) return;
  const handler = HANDLERS[node.typename];
  if (handler) {
    handler(node, scope, report);
    return;
  }
  for (const field of node.fields) walk(node[field], scope, report);
}

function withNames(scope: ReadonlySet<string>, names: string[]): Set<string> {
  return new Set([...scope, ...names]);
}

/** Walks an expression whose top-level variable may be undefined (`X is defined`, `X | default`). */
function walkLenient(node: unknown, scope: ReadonlySet<string>, report: Report): void {
  if (isNode(node) && node.typename === 'Symbol') return;
  walk(node, scope, report);
}

function testName(node: unknown): string | undefined {
  if (!isNode(node)) return undefined;
  if (node.typename === 'Symbol') return String(node.value);
  if (node.typename === 'FunCall' && isNode(node.name)) return String(node.name.value);
  return undefined;
}

/** Only the values of `key: value` pairs are expressions; keys are names. */
function walkPairs(node: AstNode, scope: ReadonlySet<string>, report: Report): void {
  for (const child of node.children ?? []) walk(child.typename === 'Pair' ? child.value : child, scope, report);
}

const HANDLERS: Record<string, (node: AstNode, scope: ReadonlySet<string>, report: Report) => void> = {
  Symbol: (node, scope, report) => {
    if (!scope.has(String(node.value))) report(node);
  },
  For: forLoop,
  AsyncEach: forLoop,
  AsyncAll: forLoop,
  Macro: macro,
  Caller: macro,
  Filter: filter,
  FilterAsync: filter,
  FunCall: (node, scope, report) => {
    walk(node.name, scope, report);
    walk(node.args, scope, report);
  },
  KeywordArgs: walkPairs,
  Dict: walkPairs,
  LookupVal: (node, scope, report) => {
    walk(node.target, scope, report);
    if (isNode(node.val) && node.val.typename !== 'Literal') walk(node.val, scope, report);
  },
  Is: (node, scope, report) => {
    const test = testName(node.right);
    if (test && LENIENT_TESTS.has(test)) walkLenient(node.left, scope, report);
    else walk(node.left, scope, report);
    if (isNode(node.right) && node.right.typename === 'FunCall') walk(node.right.args, scope, report);
  },
  Block: (node, scope, report) => walk(node.body, scope, report),
  Set: (node, scope, report) => {
    walk(node.value, scope, report);
    walk(node.body, scope, report);
  },
  Import: (node, scope, report) => walk(node.template, scope, report),
  FromImport: (node, scope, report) => walk(node.template, scope, report),
  CallExtension: () => undefined,
  CallExtensionAsync: () => undefined,
};

function forLoop(node: AstNode, scope: ReadonlySet<string>, report: Report): void {
  walk(node.arr, scope, report);
  walk(node.body, withNames(scope, [...symbolNames(node.name), 'loop']), report);
  walk(node.else_, scope, report);
}

function macro(node: AstNode, scope: ReadonlySet<string>, report: Report): void {
  const args = (node.args as AstNode | undefined)?.children ?? [];
  const names: string[] = ['caller'];
  for (const arg of args) {
    if (arg.typename === 'KeywordArgs') {
      for (const pair of arg.children ?? []) {
        names.push(...symbolNames(pair.key));
        walk(pair.value, scope, report);
      }
    } else {
      names.push(...symbolNames(arg));
    }
  }
  walk(node.body, withNames(scope, names), report);
}

function filter(node: AstNode, scope: ReadonlySet<string>, report: Report): void {
  const [subject, ...rest] = (node.args as AstNode | undefined)?.children ?? [];
  const name = isNode(node.name) ? String(node.name.value) : '';
  if (LENIENT_FILTERS.has(name)) walkLenient(subject, scope, report);
  else walk(subject, scope, report);
  walk(rest, scope, report);
}
