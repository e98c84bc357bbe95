import { ConfigError, type Warning } from '../errors.js';
import { isKnownKey, KNOWN_KEYS, type KnownKey } from './keys.js';
import { IDENTIFIER_PATTERN, type PropertiesFile } from './properties.js';
import { didYouMean } from './suggest.js';
import { broadcastAddress, checkIPv4, checkOneLine, cidrContains, cidrsOverlap, networkAddress, parseCidr, type ValueCheck } from './validators.js';

/**
 * Checks of config.properties values that need no inventory. `compat` mode (gen-config.sh drop-in)
 * checks only what the file itself sets and only the shapes every cluster shares (addresses,
 * networks, ports), since such files carry tutorial-era keys we do not own. `cluster` mode checks
 * every known key, defaults included.
 */
export type CheckMode = 'compat' | 'cluster';

/** Keys checked in compat mode: their meaning is the same in every gen-config.sh template tree. */
const COMPAT_CHECKS: Record<string, ValueCheck> = {
  NODE_IP: checkIPv4,
  MASTER_IP: KNOWN_KEYS.MASTER_IP.check,
  KUBE_APISERVER_PORT: KNOWN_KEYS.KUBE_APISERVER_PORT.check,
  SERVICE_CIDR: KNOWN_KEYS.SERVICE_CIDR.check,
  CLUSTER_CIDR: KNOWN_KEYS.CLUSTER_CIDR.check,
  CLUSTER_DNS_SVC_IP: KNOWN_KEYS.CLUSTER_DNS_SVC_IP.check,
  NODE_PORT_RANGE: KNOWN_KEYS.NODE_PORT_RANGE.check,
};

export interface CheckedValues {
  /** Every key's value: the file's, plus defaults of known keys in cluster mode. */
  values: Record<string, string>;
  problems: ConfigError[];
  warnings: Warning[];
}

export function checkPropertyValues(props: PropertiesFile, mode: CheckMode): CheckedValues {
  const problems: ConfigError[] = [];
  const warnings: Warning[] = [];
  const values: Record<string, string> = mode === 'cluster' ? defaultValues() : {};

  for (const [key, entry] of props.entries) {
    values[key] = entry.value;
    const check = mode === 'compat' ? COMPAT_CHECKS[key] : isKnownKey(key) ? knownCheck(key) : undefined;
    const problem = checkOneLine(mode === 'compat' ? asText(entry.value) : entry.value) ?? check?.(entry.value);
    if (problem) problems.push(new ConfigError(props.file, entry.line, key, problem.message, problem.hint));
    if (mode === 'cluster' && !IDENTIFIER_PATTERN.test(key)) {
      problems.push(
        new ConfigError(props.file, entry.line, key, 'cannot be used in kubestrap\'s templates (nunjucks reads "." and "-" as operators)', `rename it to ${key.replace(/[.-]/g, '_').toUpperCase()}`),
      );
    }
    if (!isKnownKey(key) && !(key in COMPAT_CHECKS)) {
      const guess = didYouMean(key, Object.keys(KNOWN_KEYS));
      if (guess) {
        warnings.push({
          where: `${props.file}:${entry.line} ${key}`,
          message: 'is not a key kubestrap knows (it is passed to templates unchanged)',
          hint: `did you mean ${guess}?`,
        });
      }
    }
  }
  // Cross-field checks only make sense on values that passed their own check.
  const valid = (key: string) => key in values && !problems.some((p) => p.key === key);
  problems.push(...checkNetworks(props, values, valid));
  if (mode === 'cluster') problems.push(...checkCertificateDays(props, values, valid));
  return { values, problems, warnings };
}

/**
 * compat mode reads the file byte for byte (latin1), so a UTF-8 letter arrives as two code units,
 * the second of which may look like a C1 control; controls are looked for in the decoded text.
 */
function asText(bytes: string): string {
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function knownCheck(key: KnownKey): ValueCheck {
  const spec = KNOWN_KEYS[key];
  return (value) => (value === '' && 'optional' in spec && spec.optional ? undefined : spec.check(value));
}

function defaultValues(): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, spec] of Object.entries(KNOWN_KEYS)) values[key] = spec.default;
  return values;
}

/** A ConfigError at the key's line, or at the file when the value is a default. */
export function problemAt(props: PropertiesFile, key: string, message: string, hint?: string): ConfigError {
  const entry = props.entries.get(key);
  return new ConfigError(props.file, entry?.line, key, entry ? message : `${message} (default value)`, hint);
}

function checkNetworks(props: PropertiesFile, values: Record<string, string>, valid: (key: string) => boolean): ConfigError[] {
  const problems: ConfigError[] = [];
  const service = valid('SERVICE_CIDR') ? parseCidr(values.SERVICE_CIDR!) : undefined;
  const pods = valid('CLUSTER_CIDR') ? parseCidr(values.CLUSTER_CIDR!) : undefined;

  if (service && pods && cidrsOverlap(service, pods)) {
    const key = props.entries.has('CLUSTER_CIDR') ? 'CLUSTER_CIDR' : 'SERVICE_CIDR';
    problems.push(
      problemAt(
        props,
        key,
        `SERVICE_CIDR ${values.SERVICE_CIDR} and CLUSTER_CIDR ${values.CLUSTER_CIDR} overlap`,
        'Service IPs and pod IPs must come from separate ranges, e.g. SERVICE_CIDR=10.68.0.0/16 and CLUSTER_CIDR=172.20.0.0/16',
      ),
    );
  }
  if (service && valid('CLUSTER_DNS_SVC_IP')) {
    const dns = values.CLUSTER_DNS_SVC_IP!;
    const problem = dnsIpProblem(dns, service);
    if (problem) problems.push(problemAt(props, 'CLUSTER_DNS_SVC_IP', problem.message, problem.hint));
  }
  return problems;
}

/** A renewal window as long as the validity would re-issue every certificate on every run. */
function checkCertificateDays(props: PropertiesFile, values: Record<string, string>, valid: (key: string) => boolean): ConfigError[] {
  if (!valid('CERT_RENEW_BEFORE_DAYS') || !valid('CERT_VALIDITY_DAYS')) return [];
  const renew = Number(values.CERT_RENEW_BEFORE_DAYS);
  const validity = Number(values.CERT_VALIDITY_DAYS);
  if (renew < validity) return [];
  return [
    problemAt(
      props,
      props.entries.has('CERT_RENEW_BEFORE_DAYS') ? 'CERT_RENEW_BEFORE_DAYS' : 'CERT_VALIDITY_DAYS',
      `certificates valid for ${validity} days would be re-issued on every run when renewed ${renew} days before they expire`,
      `make CERT_RENEW_BEFORE_DAYS smaller than CERT_VALIDITY_DAYS, e.g. ${Math.max(1, Math.floor(validity / 4))}`,
    ),
  ];
}

function dnsIpProblem(dns: string, service: NonNullable<ReturnType<typeof parseCidr>>) {
  const network = networkAddress(service);
  const range = `${network}/${service.prefix}`;
  const example = firstHosts(network, 2)[1];
  if (!cidrContains(service, dns)) {
    return { message: `${dns} is outside SERVICE_CIDR ${range}`, hint: `pick an address inside ${range}, e.g. ${example}` };
  }
  const [kubernetesIp] = firstHosts(network, 1);
  if (dns === network || dns === broadcastAddress(service)) {
    return { message: `${dns} is the network or broadcast address of ${range}`, hint: `pick a host address, e.g. ${example}` };
  }
  if (dns === kubernetesIp) {
    return {
      message: `${dns} is the first address of ${range}, which the "kubernetes" Service takes`,
      hint: `pick another address, e.g. ${example}`,
    };
  }
  return undefined;
}

/** The first `count` host addresses after a network address. */
export function firstHosts(network: string, count: number): string[] {
  const base = network.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  return Array.from({ length: count }, (_, i) => {
    const n = base + i + 1;
    return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
  });
}
