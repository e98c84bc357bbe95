import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';

/**
 * A parsed YAML document that can say on which line a YAML path sits, so errors point at
 * `inventory.yaml:14 hosts[1].ssh.keyFile` instead of only the path.
 */
export interface LocatedYaml {
  value: unknown;
  /** Line (1-based) of the node at `path`, or of its nearest existing parent. */
  lineOf(path: ReadonlyArray<string | number>): number | undefined;
  /** Line of the key `field` inside the mapping at `path` (for "unknown field" errors). */
  lineOfKey(path: ReadonlyArray<string | number>, field: string): number | undefined;
  errors: Array<{ line: number | undefined; message: string }>;
}

export function parseLocatedYaml(text: string): LocatedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const line = (offset: number | undefined): number | undefined => (offset === undefined ? undefined : lineCounter.linePos(offset).line);

  return {
    value: doc.errors.length ? undefined : doc.toJS(),
    errors: doc.errors.map((e) => ({ line: line(e.pos[0]), message: e.message.split('\n')[0] ?? e.message })),
    lineOf(path) {
      for (let depth = path.length; depth >= 0; depth--) {
        const node = nodeAt(doc, path.slice(0, depth));
        if (node?.range) return line(node.range[0]);
      }
      return undefined;
    },
    lineOfKey(path, field) {
      const parent = nodeAt(doc, path);
      if (isMap(parent)) {
        const pair = parent.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === field);
        const key = pair && isPair(pair) && isScalar(pair.key) ? pair.key : undefined;
        if (key?.range) return line(key.range[0]);
      }
      return this.lineOf(path);
    },
  };
}

function nodeAt(doc: Document, path: ReadonlyArray<string | number>): Node | undefined {
  if (path.length === 0) return doc.contents ?? undefined;
  const node = doc.getIn(path, true);
  return node && typeof node === 'object' && 'range' in node ? (node as Node) : undefined;
}
