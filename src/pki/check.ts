import { createHash } from 'node:crypto';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { SERVICE_ACCOUNT_KEY } from './catalog.js';
import { ENCRYPTION_KEY } from './encryption.js';
import { daysLeft, readCertificate, type CertificateInfo } from './certificate.js';
import type { DeployedFile } from './deployed.js';
import { hostPkiContents } from './host-files.js';
import { hostPkiFiles } from './host-layout.js';
import type { PreparedPki } from './reconcile.js';
import type { PkiStore } from './store.js';

/** One certificate (or key file) as `certs check` shows it: on the controller, or on a host. */
export interface CertCheck {
  /** `local`, or the host's name. */
  where: string;
  /** The PKI item: `ca`, `apiserver`, `kubelet/node1`, ... */
  name: string;
  path: string;
  subject?: string;
  issuer?: string;
  dnsNames: string[];
  ipAddresses: string[];
  notAfter?: string;
  daysLeft?: number;
  /** Hosts only: whether the host's file is the one the local PKI makes for it. */
  matchesLocal?: boolean;
  /** Why this row fails the check; empty when it passes. */
  problems: string[];
}

export function described(info: CertificateInfo | undefined, now: Date): Pick<CertCheck, 'subject' | 'issuer' | 'dnsNames' | 'ipAddresses' | 'notAfter' | 'daysLeft'> {
  if (!info) return { dnsNames: [], ipAddresses: [] };
  return {
    subject: info.subject,
    issuer: info.issuer,
    dnsNames: info.dnsNames,
    ipAddresses: info.ipAddresses,
    notAfter: info.notAfter.toISOString(),
    daysLeft: daysLeft(info, now),
  };
}

export function expiryProblems(left: number | undefined, days: number): string[] {
  if (left === undefined) return [];
  if (left < 0) return [`expired ${-left} days ago`];
  return left < days ? [`expires in ${left} days`] : [];
}

/** Every CA and leaf of the catalog as the local store holds it. */
export function checkLocal(pki: PreparedPki, store: PkiStore, now: Date, days: number): CertCheck[] {
  const names = [...pki.catalog.cas.map((c) => c.name), ...pki.catalog.leaves.map((l) => l.name)];
  const rows = names.map((name): CertCheck => {
    const pem = pki.items.get(name)?.certPem;
    const info = pem ? readCertificate(pem) : undefined;
    const base = { where: 'local', name, path: store.pathOf(name, 'certPem'), ...described(info, now) };
    if (!pem) return { ...base, problems: ['missing: the next apply issues it'] };
    if (!info) return { ...base, problems: ['unreadable'] };
    return { ...base, problems: expiryProblems(base.daysLeft, days) };
  });
  // Keys without a certificate: only whether the store has them.
  for (const name of [SERVICE_ACCOUNT_KEY, ENCRYPTION_KEY]) {
    rows.push({ where: 'local', name, path: store.pathOf(name, 'keyPem'), dnsNames: [], ipAddresses: [], problems: pki.items.has(name) ? [] : ['missing: the next apply creates it'] });
  }
  return rows;
}

/** Every PKI file a host should hold, compared with what it holds (`deployed`, in hostPkiFiles order). */
export function checkHost(spec: ClusterSpec, host: HostSpec, pki: PreparedPki, deployed: readonly DeployedFile[], now: Date, days: number): CertCheck[] {
  const desired = desiredContents(spec, host, pki);
  return hostPkiFiles(spec, host).map((f, i): CertCheck => {
    const held = deployed[i]!;
    const info = held.certPem ? readCertificate(held.certPem) : undefined;
    const want = desired.get(f.path);
    const matchesLocal = held.sha256 !== null && want !== undefined && held.sha256 === sha256(want);
    const base = { where: host.name, name: f.content.name, path: f.path, ...described(info, now), matchesLocal };
    if (held.sha256 === null) return { ...base, problems: ['missing on the host'] };
    const problems = [...(matchesLocal ? [] : [want === undefined ? 'the local PKI has nothing to compare it with' : 'differs from the local PKI']), ...expiryProblems(base.daysLeft, days)];
    return { ...base, problems };
  });
}

/** What the local PKI makes for each of the host's paths; a path whose item is missing locally has none. */
function desiredContents(spec: ClusterSpec, host: HostSpec, pki: PreparedPki): Map<string, string> {
  const contents = new Map<string, string>();
  for (const f of hostPkiFiles(spec, host)) {
    try {
      const [file] = hostPkiContents(spec, host, pki, [f]);
      contents.set(f.path, file!.content);
    } catch {
      // Missing locally: reported as such.
    }
  }
  return contents;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
