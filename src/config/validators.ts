import ipaddr from 'ipaddr.js';
import { describeControl } from '../printable.js';

/**
 * Value checks shared by config.properties and the inventory. Each returns undefined when the value is
 * fine, or a problem that says what is wrong and what would be valid.
 */
export interface ValueProblem {
  message: string;
  hint: string;
}

export type ValueCheck = (value: string) => ValueProblem | undefined;

export interface Cidr {
  address: ipaddr.IPv4;
  prefix: number;
}

export function isIPv4(value: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(value);
}

export const checkIPv4: ValueCheck = (value) => (isIPv4(value) ? undefined : { message: `"${value}" is not an IPv4 address`, hint: 'write four decimal numbers 0-255, e.g. 192.168.1.102' });

export function parseCidr(value: string): Cidr | undefined {
  const slash = value.indexOf('/');
  if (slash < 0 || !isIPv4(value.slice(0, slash)) || !/^\d{1,2}$/.test(value.slice(slash + 1))) return undefined;
  try {
    const [address, prefix] = ipaddr.IPv4.parseCIDR(value);
    return { address, prefix };
  } catch {
    return undefined;
  }
}

export function networkAddress(cidr: Cidr): string {
  return ipaddr.IPv4.networkAddressFromCIDR(`${cidr.address.toString()}/${cidr.prefix}`).toString();
}

export function broadcastAddress(cidr: Cidr): string {
  return ipaddr.IPv4.broadcastAddressFromCIDR(`${cidr.address.toString()}/${cidr.prefix}`).toString();
}

/** An IPv4 network in CIDR form whose prefix lies in [minPrefix, maxPrefix] and has no host bits set. */
export function checkCidr(minPrefix: number, maxPrefix: number, example: string): ValueCheck {
  return (value) => {
    const cidr = parseCidr(value);
    if (!cidr) {
      return { message: `"${value}" is not an IPv4 network in CIDR form`, hint: `write address/prefix, e.g. ${example}` };
    }
    if (cidr.prefix < minPrefix || cidr.prefix > maxPrefix) {
      return {
        message: `prefix /${cidr.prefix} is out of range`,
        hint: `use a prefix between /${minPrefix} and /${maxPrefix}, e.g. ${example}`,
      };
    }
    const network = networkAddress(cidr);
    if (network !== cidr.address.toString()) {
      return {
        message: `"${value}" has host bits set`,
        hint: `write the network address: ${network}/${cidr.prefix}`,
      };
    }
    return undefined;
  };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  return isIPv4(ip) && ipaddr.IPv4.parse(ip).match(cidr.address, cidr.prefix);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  // Two aligned networks overlap exactly when the wider one contains the other's network address.
  const [wide, narrow] = a.prefix <= b.prefix ? [a, b] : [b, a];
  return narrow.address.match(wide.address, wide.prefix);
}

export const checkPort: ValueCheck = (value) => {
  const port = Number(value);
  return /^\d{1,5}$/.test(value) && port >= 1 && port <= 65535 ? undefined : { message: `"${value}" is not a TCP port`, hint: 'write a number from 1 to 65535, e.g. 6443' };
};

export function parsePortRange(value: string): { from: number; to: number } | undefined {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  return { from: Number(m[1]), to: Number(m[2]) };
}

export const checkPortRange: ValueCheck = (value) => {
  const range = parsePortRange(value);
  const hint = 'write FIRST-LAST with 1 <= FIRST < LAST <= 65535, e.g. 30000-32767';
  if (!range) return { message: `"${value}" is not a port range`, hint };
  if (range.from < 1 || range.to > 65535 || range.from >= range.to) {
    return { message: `${value} is not an increasing range of TCP ports`, hint };
  }
  return undefined;
};

export function checkInteger(min: number, max: number): ValueCheck {
  return (value) => {
    const n = Number(value);
    return /^\d+$/.test(value) && n >= min && n <= max ? undefined : { message: `"${value}" is not a whole number from ${min} to ${max}`, hint: `write a number from ${min} to ${max}` };
  };
}

/**
 * A path on a host as kubestrap puts it into units and flags: `/` then letters, digits and `._/+-`,
 * no `..`. Nothing a shell, a unit file or a command line would read as more than a path.
 */
const PATH_GRAMMAR = /^\/[A-Za-z0-9._/+-]*$/;

export function isSafeAbsolutePath(value: string): boolean {
  return PATH_GRAMMAR.test(value) && !value.split('/').includes('..');
}

export const checkAbsolutePath: ValueCheck = (value) =>
  isSafeAbsolutePath(value)
    ? undefined
    : {
        message: `"${value}" is not an absolute path`,
        hint: 'write / then letters, digits and . _ / + - (no blanks, quotes or ".."), e.g. /opt/kube/bin',
      };

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && value.split('.').every((label) => DNS_LABEL.test(label));
}

export const checkDnsDomain: ValueCheck = (value) =>
  isDnsSubdomain(value)
    ? undefined
    : {
        message: `"${value}" is not a DNS domain`,
        hint: 'write lower-case labels of letters, digits and "-" separated by dots, e.g. cluster.local',
      };

export function checkOneOf(allowed: readonly string[]): ValueCheck {
  return (value) => (allowed.includes(value) ? undefined : { message: `"${value}" is not one of the allowed values`, hint: `write one of: ${allowed.join(', ')}` });
}

export function checkVersion(example: string): ValueCheck {
  return (value) => (/^v?\d+\.\d+\.\d+$/.test(value) ? undefined : { message: `"${value}" is not a version`, hint: `write MAJOR.MINOR.PATCH, e.g. ${example}` });
}

/** Splits a comma-separated list value; blanks around items are tolerated, empty items are dropped. */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** Applies `check` to each item of a comma-separated list, naming the offending item. */
export function checkEach(check: ValueCheck): ValueCheck {
  return (value) => {
    for (const item of splitList(value)) {
      const problem = check(item);
      if (problem) return problem;
    }
    return undefined;
  };
}

const DNS_NAME = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*';
const IPV6 = '\\[[0-9A-Fa-f:.]+\\]';
const HOST = `(?:${DNS_NAME}|${IPV6})`;

export interface UrlGrammar {
  schemes: readonly string[];
  /** The port must be written (etcd endpoints), or may be left out (mirrors). */
  port: 'required' | 'optional';
  /** A path after the port; without it only a lone `/` may follow. */
  path: boolean;
}

/**
 * A URL as kubestrap passes it into flags and files: `scheme://host[:port][/path]` and nothing else,
 * checked on the text as written (a URL parser accepts and re-encodes blanks, queries and fragments,
 * while the raw text is what lands on a command line: `https://a:2379/?x --authorization-mode=...`).
 */
export function isUrl(value: string, grammar: UrlGrammar): boolean {
  const port = grammar.port === 'required' ? ':(\\d{1,5})' : '(?::(\\d{1,5}))?';
  const path = grammar.path ? '(?:/[A-Za-z0-9._~/-]*)?' : '/?';
  const m = new RegExp(`^(?:${grammar.schemes.join('|')})://${HOST}${port}${path}$`).exec(value);
  if (!m) return false;
  const n = m[1] === undefined ? undefined : Number(m[1]);
  return n === undefined || (n >= 1 && n <= 65535);
}

export const checkHttpUrl: ValueCheck = (value) =>
  isUrl(value, { schemes: ['http', 'https'], port: 'optional', path: true })
    ? undefined
    : { message: `"${value}" is not an http(s) URL`, hint: 'write scheme://host[:port][/path], e.g. https://mirror.example.com' };

const HOST_PORT = new RegExp(`^${HOST}(:\\d{1,5})?$`);

/** A registry reference as Docker's `insecure-registries` takes it: host[:port] or a CIDR. */
export const checkRegistry: ValueCheck = (value) =>
  parseCidr(value) || (HOST_PORT.test(value) && !value.includes('/'))
    ? undefined
    : {
        message: `"${value}" is not a registry address`,
        hint: 'write host[:port] or a network in CIDR form, e.g. 192.168.1.10:5000 or 10.0.0.0/8',
      };

export const checkIfaceName: ValueCheck = (value) =>
  /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,14}$/.test(value) ? undefined : { message: `"${value}" is not a network interface name`, hint: 'write a name such as eth0 or ens33 (at most 15 characters)' };

/** `key=value` pairs of kernel sysctls, as sysctl.d files hold them. */
export const checkSysctlAssignment: ValueCheck = (value) =>
  /^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+=[A-Za-z0-9._:/+-]+$/.test(value)
    ? undefined
    : {
        message: `"${value}" is not a sysctl assignment`,
        hint: 'write dotted.key=value items separated by commas, e.g. vm.swappiness=0,fs.inotify.max_user_watches=524288',
      };

/**
 * What every value, known key or not, must be: one line of text. A carriage return or newline inside
 * a value starts a new line in a unit file (`ExecStartPre=...`) or script; other controls drive
 * terminals. Tabs pass: a value that uses them means them.
 */
export const checkOneLine: ValueCheck = (value) => {
  const control = describeControl(value.replace(/\t/g, ''));
  return control === undefined
    ? undefined
    : {
        message: `the value holds a control character, ${control}`,
        hint: 'a value is one line of printable text: remove it (a stray carriage return comes from an editor; save the file with plain LF line ends)',
      };
};

export function checkDockerSize(value: string): ValueProblem | undefined {
  return /^\d+[kmg]$/.test(value) ? undefined : { message: `"${value}" is not a size`, hint: 'write a number followed by k, m or g, e.g. 100m' };
}
