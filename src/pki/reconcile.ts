import type { KeyObject, X509Certificate } from 'node:crypto';
import type { ClusterSpec } from '../config/cluster-spec.js';
import { StateError, type Warning } from '../errors.js';
import { pkiCatalog, KEY_ALGORITHMS, SERVICE_ACCOUNT_KEY, type CaName, type CaSpec, type LeafSpec, type PkiCatalog, type PkiSettings } from './catalog.js';
import {
  certifiesKey,
  daysLeft,
  issueCaCertificate,
  issueLeafCertificate,
  parseCertificate,
  readCertificate,
  signedBy,
  validityFrom,
  type CertificateInfo,
  type CertificateProfile,
} from './certificate.js';
import { ENCRYPTION_KEY, encryptionKeyText, newEncryptionKey, parseEncryptionKey } from './encryption.js';
import { generatePrivateKey, parsePrivateKey, privateKeyPem, publicKeyPem } from './keys.js';
import type { PkiStore, StoredItem } from './store.js';
import { CheckedLeaves, type LeafTexts } from './checked-leaves.js';

/** One item of the PKI as the run uses it: a CA or leaf (certificate and key), or the service-account key pair. */
export interface PkiItem {
  keyPem?: string;
  certPem?: string;
  publicPem?: string;
}

export interface Issuance {
  name: string;
  kind: 'ca' | 'leaf' | 'key';
  /** Why: `new`, `expires in 12 days`, `no longer matches the inventory: IP 10.0.0.13 added`, ... */
  reason: string;
}

export interface PreparedPki {
  catalog: PkiCatalog;
  /** Every item of the PKI: kept from the store or issued by this run. */
  items: ReadonlyMap<string, PkiItem>;
  /** What this run issues, in order (CAs, service-account key, leaves). */
  issued: Issuance[];
  warnings: Warning[];
  /** Writes what this run issued into the store; until then it exists only in memory. */
  persist(): Promise<void>;
}

/**
 * `converge` (plan, apply): create what is missing and re-issue each leaf that is missing,
 * expiring, or no longer matches the inventory. `renew` (certs renew): re-issue exactly the given
 * leaves; it never creates a CA, since only an apply can first check that no host holds another.
 */
export type ReconcileMode = { kind: 'converge' } | { kind: 'renew'; names: ReadonlySet<string> };

/** A CA ready to sign, and to check what it signed. */
interface LoadedCa {
  certPem: string;
  cert: X509Certificate;
  key: KeyObject;
  info: CertificateInfo;
}

export interface ReconcileOptions {
  now: Date;
  mode?: ReconcileMode;
}

/**
 * The PKI this run works with, from the local store and the cluster spec. Nothing is written:
 * `persist()` does that once the run decides to go ahead. Re-running with an unchanged inventory
 * issues nothing.
 */
export async function reconcilePki(spec: ClusterSpec, store: PkiStore, opts: ReconcileOptions): Promise<PreparedPki> {
  store.checkPrivate();
  const catalog = pkiCatalog(spec);
  const mode = opts.mode ?? { kind: 'converge' };
  const items = new Map<string, PkiItem>();
  const issued: Issuance[] = [];
  const warnings: Warning[] = [];
  const record = (name: string, kind: Issuance['kind'], reason: string, item: PkiItem) => {
    items.set(name, item);
    issued.push({ name, kind, reason });
  };

  const cas = new Map<CaName, LoadedCa>();
  for (const ca of catalog.cas) {
    const kept = loadCa(store, ca);
    if (kept) {
      items.set(ca.name, { certPem: kept.certPem, keyPem: kept.keyPem });
      cas.set(ca.name, kept);
      const left = daysLeft(kept.info, opts.now);
      if (left < catalog.settings.renewBeforeDays) warnings.push(caExpiryWarning(store, ca, left));
      continue;
    }
    if (mode.kind === 'renew') throw missingCaForRenew(store, ca);
    const key = await generatePrivateKey(KEY_ALGORITHMS.certificates);
    const certPem = await issueCaCertificate(ca.commonName, key, validityFrom(opts.now, catalog.settings.caValidityDays));
    record(ca.name, 'ca', 'new', { certPem, keyPem: privateKeyPem(key) });
    const cert = parseCertificate(certPem)!;
    cas.set(ca.name, { certPem, cert, key, info: readCertificate(cert)! });
  }

  const sa = loadServiceAccountKey(store);
  if (sa) items.set(SERVICE_ACCOUNT_KEY, sa);
  else if (mode.kind === 'converge') {
    const key = await generatePrivateKey(KEY_ALGORITHMS.serviceAccount);
    record(SERVICE_ACCOUNT_KEY, 'key', 'new', { keyPem: privateKeyPem(key), publicPem: publicKeyPem(key) });
  }

  const encryption = loadEncryptionKey(store);
  if (encryption) items.set(ENCRYPTION_KEY, encryption);
  else if (mode.kind === 'converge') record(ENCRYPTION_KEY, 'key', 'new', { keyPem: encryptionKeyText(newEncryptionKey(opts.now)) });

  const checked = CheckedLeaves.load(store.dir);
  const decisions = catalog.leaves.map((leaf) => {
    const stored = store.read(leaf.name);
    const reason = mode.kind === 'renew' ? (mode.names.has(leaf.name) ? 'renewal requested' : undefined) : reissueReason(leaf, stored, cas.get(leaf.ca)!, catalog.settings, opts.now, checked);
    return { leaf, stored, reason };
  });
  if (mode.kind !== 'renew') checked.save();
  const fresh = await Promise.all(decisions.map((d) => (d.reason ? issueLeaf(d.leaf, cas.get(d.leaf.ca)!, catalog.settings, opts.now) : undefined)));
  decisions.forEach((d, i) => {
    if (d.reason) {
      const item = fresh[i]!;
      record(d.leaf.name, 'leaf', d.reason, item);
      // Sound as issued: the run after the one that keeps it need not check it again.
      if (mode.kind !== 'renew') checked.remember({ certPem: item.certPem!, keyPem: item.keyPem!, caCertPem: cas.get(d.leaf.ca)!.certPem }, readCertificate(item.certPem!)!);
    } else if (d.stored.certPem && d.stored.keyPem) items.set(d.leaf.name, { certPem: d.stored.certPem, keyPem: d.stored.keyPem });
  });

  return {
    catalog,
    items,
    issued,
    warnings,
    async persist() {
      await store.writeAll(issued.map(({ name }) => [name, items.get(name)! satisfies StoredItem] as const));
      if (mode.kind !== 'renew') checked.save();
    },
  };
}

/**
 * The PKI exactly as the store holds it, checking and issuing nothing (parts may be missing):
 * what `certs check` compares the hosts with.
 */
export function storedPki(spec: ClusterSpec, store: PkiStore): PreparedPki {
  store.checkPrivate();
  const catalog = pkiCatalog(spec);
  const items = new Map<string, PkiItem>();
  for (const name of [...catalog.cas.map((c) => c.name), ...catalog.leaves.map((l) => l.name)]) {
    const { certPem, keyPem } = store.read(name);
    if (certPem || keyPem) items.set(name, { ...(certPem ? { certPem } : {}), ...(keyPem ? { keyPem } : {}) });
  }
  const saPem = store.read(SERVICE_ACCOUNT_KEY).keyPem;
  const saKey = saPem ? parsePrivateKey(saPem) : undefined;
  if (saPem && saKey) items.set(SERVICE_ACCOUNT_KEY, { keyPem: saPem, publicPem: publicKeyPem(saKey) });
  const encryption = store.read(ENCRYPTION_KEY).keyPem;
  if (encryption && parseEncryptionKey(encryption)) items.set(ENCRYPTION_KEY, { keyPem: encryption });
  return { catalog, items, issued: [], warnings: [], persist: async () => undefined };
}

async function issueLeaf(leaf: LeafSpec, ca: LoadedCa, settings: PkiSettings, now: Date): Promise<PkiItem> {
  const key = await generatePrivateKey(KEY_ALGORITHMS.certificates);
  const certPem = await issueLeafCertificate(leaf.profile, key, ca, validityFrom(now, settings.certValidityDays, ca.info.notAfter));
  return { certPem, keyPem: privateKeyPem(key) };
}

/** Why a stored leaf must be issued again, or undefined when it is good as it is. */
function reissueReason(leaf: LeafSpec, stored: StoredItem, ca: LoadedCa, settings: PkiSettings, now: Date, checked: CheckedLeaves): string | undefined {
  if (!stored.certPem && !stored.keyPem) return 'new';
  if (!stored.certPem || !stored.keyPem) return `its ${stored.certPem ? 'key' : 'certificate'} is missing`;
  const texts = { certPem: stored.certPem, keyPem: stored.keyPem, caCertPem: ca.certPem };
  const info = checked.info(texts) ?? soundLeaf(leaf, texts, ca);
  if (typeof info === 'string') return info;
  checked.remember(texts, info);
  const changed = profileChanges(leaf.profile, info);
  if (changed.length) return `no longer matches the inventory: ${changed.join(', ')}`;
  const left = daysLeft(info, now);
  // A leaf already ending with its CA cannot get longer: re-issuing it would happen on every run.
  const canLast = info.notAfter.getTime() < ca.info.notAfter.getTime() - 86_400_000;
  if (left < settings.renewBeforeDays && canLast) return left < 0 ? `expired ${-left} days ago` : `expires in ${left} days`;
  return undefined;
}

/** What the leaf's certificate says once its key and issuer are checked, or why it cannot be kept. */
function soundLeaf(leaf: LeafSpec, texts: LeafTexts, ca: LoadedCa): CertificateInfo | string {
  const cert = parseCertificate(texts.certPem);
  const key = parsePrivateKey(texts.keyPem);
  if (!cert) return 'its certificate is unreadable';
  if (!key) return 'its key is unreadable';
  if (!certifiesKey(cert, key)) return 'its key does not match its certificate';
  if (!signedBy(cert, ca.cert)) return `it was not issued by the current ${leaf.ca}`;
  return readCertificate(cert)!;
}

/** What differs between the certificate and what the catalog wants it to say, for people. */
export function profileChanges(want: CertificateProfile, have: CertificateInfo): string[] {
  const changes: string[] = [];
  if (want.commonName !== have.commonName) changes.push(`CN ${have.commonName} -> ${want.commonName}`);
  changes.push(...setChanges('O', want.organizations, have.organizations));
  changes.push(...setChanges('DNS', want.dnsNames, have.dnsNames));
  changes.push(...setChanges('IP', want.ipAddresses, have.ipAddresses));
  changes.push(...setChanges('usage', want.usages, have.usages));
  return changes;
}

function setChanges(label: string, want: readonly string[], have: readonly string[]): string[] {
  return [...want.filter((x) => !have.includes(x)).map((x) => `${label} ${x} added`), ...have.filter((x) => !want.includes(x)).map((x) => `${label} ${x} removed`)];
}

/** A CA as stored, checked whole: a certificate without its key (or the reverse) is a damaged store, not a missing CA. */
export function loadCa(store: PkiStore, ca: CaSpec): (LoadedCa & { keyPem: string }) | undefined {
  const { certPem, keyPem } = store.read(ca.name);
  if (!certPem && !keyPem) return undefined;
  const certFile = store.pathOf(ca.name, 'certPem');
  const keyFile = store.pathOf(ca.name, 'keyPem');
  if (!certPem || !keyPem) {
    throw new StateError(
      certPem ? keyFile : certFile,
      `the ${ca.name} ${certPem ? 'key' : 'certificate'} is missing while its ${certPem ? 'certificate' : 'key'} is there`,
      `restore ${store.dir} from your backup; kubestrap never replaces a CA by itself`,
    );
  }
  const cert = parseCertificate(certPem);
  const info = cert && readCertificate(cert);
  const key = parsePrivateKey(keyPem);
  if (!cert || !info?.isCa) throw new StateError(certFile, `is not a CA certificate`, `restore ${store.dir} from your backup`);
  if (!key || !certifiesKey(cert, key)) {
    throw new StateError(keyFile, `is not the key of ${certFile}`, `restore ${store.dir} from your backup; kubestrap never replaces a CA by itself`);
  }
  return { certPem, keyPem, cert, key, info };
}

function loadServiceAccountKey(store: PkiStore): PkiItem | undefined {
  const { keyPem } = store.read(SERVICE_ACCOUNT_KEY);
  if (!keyPem) return undefined;
  const key = parsePrivateKey(keyPem);
  if (!key) {
    throw new StateError(store.pathOf(SERVICE_ACCOUNT_KEY, 'keyPem'), 'is not a private key', `restore ${store.dir} from your backup: a new key would invalidate every service-account token`);
  }
  return { keyPem, publicPem: publicKeyPem(key) };
}

function loadEncryptionKey(store: PkiStore): PkiItem | undefined {
  const { keyPem } = store.read(ENCRYPTION_KEY);
  if (!keyPem) return undefined;
  if (!parseEncryptionKey(keyPem)) {
    throw new StateError(
      store.pathOf(ENCRYPTION_KEY, 'keyPem'),
      'is not an encryption key (JSON with provider "secretbox", a name and a base64 32-byte secret)',
      `restore ${store.dir} from your backup: a new key cannot read the Secrets the old one encrypted`,
    );
  }
  return { keyPem };
}

function caExpiryWarning(store: PkiStore, ca: CaSpec, left: number): Warning {
  return {
    where: store.pathOf(ca.name, 'certPem'),
    message: left < 0 ? `the ${ca.name} expired ${-left} days ago` : `the ${ca.name} expires in ${left} days; certificates it issues end with it`,
    hint: 'kubestrap does not rotate CAs; plan a CA rotation (a new cluster PKI) before that day',
  };
}

function missingCaForRenew(store: PkiStore, ca: CaSpec): StateError {
  return new StateError(
    store.pathOf(ca.name, 'certPem'),
    `there is no ${ca.name} to renew certificates with`,
    `restore ${store.dir} from your backup, or run \`bootstrap apply\` to create the PKI of a new cluster`,
  );
}
