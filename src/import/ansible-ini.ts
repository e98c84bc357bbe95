import { ConfigError } from '../errors.js';
import { addHost, emptyInventory, group, type AnsibleInventory, type AnsibleValue, type Sourced } from './ansible-inventory.js';

/**
 * Ansible's INI inventory, read as ansible-core's `ini` plugin reads it
 * (lib/ansible/plugins/inventory/ini.py). No npm package reads this dialect: it is not INI (a host
 * line is a name and shell-quoted key=value words, `[g:children]` lists groups, `node[1:3]` is three
 * hosts, `host:2222` a port), and an INI parser would take `192.168.1.1 k8s_nodename='m-01'` for one
 * key without a value. So it is written here, small, with the plugin's rules:
 * - a line starting with `#` or `;` is a comment; `[name]`, `[name:vars]`, `[name:children]` open a section;
 * - a host line is split as Python's `shlex.split(line, comments=True)`: quotes, backslashes, `#` ends it;
 * - a `:vars` line is `key = value`, the value read as Python's `ast.literal_eval` reads it
 *   (`"6443"` is the text 6443, `22` a number, `True` a boolean), and kept as written when that fails.
 */
export function parseAnsibleIni(text: string, file: string): { inventory: AnsibleInventory; problems: ConfigError[] } {
  const inv = emptyInventory(file);
  const problems: ConfigError[] = [];
  let section = { group: 'ungrouped', kind: 'hosts' };
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const lineNo = index + 1;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^:\]\s]+)(?::(\w+))?\]\s*([#;].*)?$/.exec(line);
    if (header) {
      section = { group: header[1]!, kind: header[2] ?? 'hosts' };
      if (!['hosts', 'vars', 'children'].includes(section.kind))
        problems.push(new ConfigError(file, lineNo, undefined, `section [${header[1]}:${section.kind}] has an unknown type`, 'Ansible knows :vars and :children'));
      group(inv, section.group);
      return;
    }
    const problem = parseLine(inv, section, line, `${file}:${lineNo}`);
    if (problem) problems.push(new ConfigError(file, lineNo, undefined, problem.message, problem.hint));
  });
  return { inventory: inv, problems };
}

type LineProblem = { message: string; hint: string } | undefined;

function parseLine(inv: AnsibleInventory, section: { group: string; kind: string }, line: string, at: string): LineProblem {
  const where = `${at} [${section.group}${section.kind === 'hosts' ? '' : `:${section.kind}`}]`;
  if (section.kind === 'vars') {
    const eq = line.indexOf('=');
    if (eq < 0) return { message: `"${line}" is not key=value`, hint: 'a :vars section holds key=value lines' };
    group(inv, section.group).vars.set(line.slice(0, eq).trim(), { value: literalValue(line.slice(eq + 1).trim()), where });
    return undefined;
  }
  if (section.kind === 'children') {
    const child = shlexSplit(line)?.[0];
    if (!child) return undefined;
    const parent = group(inv, section.group);
    if (!parent.children.includes(child)) parent.children.push(child);
    group(inv, child);
    return undefined;
  }
  return parseHostLine(inv, section.group, line, where);
}

function parseHostLine(inv: AnsibleInventory, groupName: string, line: string, where: string): LineProblem {
  const tokens = shlexSplit(line);
  if (!tokens) return { message: `"${line}" has an unclosed quote`, hint: 'close the quote, as the shell would need it' };
  const [pattern, ...assignments] = tokens;
  if (pattern === undefined) return undefined;
  const expanded = expandHostPattern(pattern);
  if (!expanded) return HOST_PATTERN_PROBLEM(pattern);
  // Ansible sets the port first and the line's variables after it: an ansible_port= there wins.
  const vars = portVars(expanded.port, where);
  for (const token of assignments) {
    const eq = token.indexOf('=');
    if (eq < 0) return { message: `"${token}" is not a key=value host variable`, hint: 'write host variables as key=value after the host name' };
    vars.set(token.slice(0, eq), { value: literalValue(token.slice(eq + 1)), where });
  }
  for (const host of expanded.hosts) addHost(inv, groupName, host, vars);
  return undefined;
}

/** Why a host pattern is refused, in both inventory formats. */
export const HOST_PATTERN_PROBLEM = (pattern: string) => ({
  message: `"${pattern}" is not a host name or range`,
  hint: 'write name, name:port, [IPv6]:port, or a range such as node[1:3]',
});

/** The ansible_port a host pattern's `:port` sets, as the first of the host's variables. */
export function portVars(port: number | undefined, where: string): Map<string, Sourced> {
  return new Map(port === undefined ? [] : [['ansible_port', { value: port, where }]]);
}

/** Python's shlex.split(s, comments=True) in POSIX mode; undefined for an unclosed quote. */
export function shlexSplit(line: string): string[] | undefined {
  const tokens: string[] = [];
  let token: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else token = (token ?? '') + c;
    } else if (quote === '"') {
      // In double quotes a backslash escapes only what the shell lets it escape.
      if (c === '\\' && i + 1 < line.length && '\\"$`'.includes(line[i + 1]!)) token = (token ?? '') + line[++i]!;
      else if (c === '"') quote = undefined;
      else token = (token ?? '') + c;
    } else if (c === '#') break;
    else if (/\s/.test(c)) {
      if (token !== undefined) tokens.push(token);
      token = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
      token ??= '';
    } else if (c === '\\' && i + 1 < line.length) token = (token ?? '') + line[++i]!;
    else token = (token ?? '') + c;
  }
  if (quote) return undefined;
  if (token !== undefined) tokens.push(token);
  return tokens;
}

/**
 * What Python's ast.literal_eval makes of a value, for the literals an inventory holds (quoted text,
 * numbers, True/False/None); anything else stays the text it is, as the plugin keeps it. A trailing
 * `# comment` after a literal is Python's comment, so literal_eval ignores it too.
 */
export function literalValue(text: string): AnsibleValue {
  const literal = pythonLiteral(text);
  if (literal !== undefined) return literal;
  const comment = /^(.*?)\s+#.*$/.exec(text);
  const beforeComment = comment ? pythonLiteral(comment[1]!) : undefined;
  return beforeComment !== undefined ? beforeComment : text;
}

function pythonLiteral(text: string): AnsibleValue | undefined {
  const quoted = /^(['"])(.*)\1$/.exec(text);
  if (quoted && !quoted[2]!.includes(quoted[1]!)) return quoted[2]!.replace(/\\(.)/g, '$1');
  if (/^[+-]?\d+$/.test(text)) return Number(text);
  if (/^[+-]?(\d+\.\d*|\.\d+)$/.test(text)) return Number(text);
  const constants: Record<string, AnsibleValue> = { True: true, False: false, None: null };
  return text in constants ? constants[text] : undefined;
}

/**
 * A host pattern: a name with optional `[a:b]` or `[a:b:step]` ranges (numbers, zero-padded when the
 * start is, or single letters), and an optional `:port` after an IPv4 address or name; an IPv6
 * address bare, or in brackets when a port follows (Ansible's parse_address).
 */
export function expandHostPattern(pattern: string): { hosts: string[]; port?: number } | undefined {
  // Two colons at least: an IPv6 address, never a name with a port or a range.
  const ipv6 = /^\[([0-9a-f]*:[0-9a-f]*:[0-9a-f:.]*)\](?::(\d+))?$|^([0-9a-f]*:[0-9a-f]*:[0-9a-f:.]*)$/i.exec(pattern);
  if (ipv6) return ipv6[2] ? { hosts: [ipv6[1]!], port: Number(ipv6[2]) } : { hosts: [(ipv6[1] ?? ipv6[3])!] };
  const withPort = /^([^:]+):(\d+)$/.exec(pattern);
  const name = withPort ? withPort[1]! : pattern;
  if (name.includes(':') && !/\[/.test(name)) return undefined;
  const hosts = expandRanges(name);
  if (!hosts) return undefined;
  return withPort ? { hosts, port: Number(withPort[2]) } : { hosts };
}

function expandRanges(name: string): string[] | undefined {
  const m = /^(.*?)\[([a-z0-9]+):([a-z0-9]+)(?::(\d+))?\](.*)$/i.exec(name);
  if (!m) return /[[\]]/.test(name) ? undefined : [name];
  const [, head, start, end, step, tail] = m as unknown as [string, string, string, string, string | undefined, string];
  const values = rangeValues(start, end, Number(step ?? 1));
  if (!values) return undefined;
  const rest = expandRanges(tail);
  return rest && values.flatMap((v) => rest.map((r) => `${head}${v}${r}`));
}

function rangeValues(start: string, end: string, step: number): string[] | undefined {
  if (step < 1) return undefined;
  if (/^\d+$/.test(start) && /^\d+$/.test(end)) {
    const width = start.startsWith('0') ? start.length : 0;
    const out: string[] = [];
    for (let n = Number(start); n <= Number(end); n += step) out.push(String(n).padStart(width, '0'));
    return out.length ? out : undefined;
  }
  if (/^[a-z]$/i.test(start) && /^[a-z]$/i.test(end) && start <= end) {
    const out: string[] = [];
    for (let c = start.charCodeAt(0); c <= end.charCodeAt(0); c += step) out.push(String.fromCharCode(c));
    return out;
  }
  return undefined;
}
