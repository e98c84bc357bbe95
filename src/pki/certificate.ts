import { randomBytes, X509Certificate, type KeyObject, type webcrypto } from 'node:crypto';
import { publicKeyDer, signatureAlgorithm, signingKey } from './keys.js';
import { x509Library, type X509 } from './x509.js';

export type ExtendedUsage = 'serverAuth' | 'clientAuth';

/** Who a certificate names and what it may do: the part of a certificate the catalog decides. */
export interface CertificateProfile {
  commonName: string;
  /** Subject O= entries: Kubernetes reads them as the user's groups. */
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** Extended key usages; empty for a CA. */
  usages: ExtendedUsage[];
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** A CA as the issuer of leaves: its certificate and its key. */
export interface Issuer {
  certPem: string;
  key: KeyObject;
}

/** What `certs check` and the re-issue decisions read from a certificate. */
export interface CertificateInfo {
  /** As OpenSSL prints it: `O=system:nodes, CN=system:node:node1`. */
  subject: string;
  commonName: string;
  organizations: string[];
  issuer: string;
  dnsNames: string[];
  ipAddresses: string[];
  usages: ExtendedUsage[];
  isCa: boolean;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  /** SHA-256 of the DER certificate, hex. */
  fingerprint: string;
}

/** RFC 5280's id-kp OIDs. */
const EKU_OIDS: Record<ExtendedUsage, string> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

/** Hosts whose clocks run behind the controller's must not see a fresh certificate as not yet valid. */
const BACKDATE_MS = 60 * 60 * 1000;

export function validityFrom(now: Date, days: number, notAfterLimit?: Date): Validity {
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  return {
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: notAfterLimit && notAfterLimit < notAfter ? notAfterLimit : notAfter,
  };
}

/** A self-signed CA that may sign leaves only (path length 0): nothing below it can make CAs. */
export async function issueCaCertificate(commonName: string, key: KeyObject, validity: Validity): Promise<string> {
  const x509 = await x509Library();
  const spki = publicKeyDer(key);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: subjectName({ commonName, organizations: [] }),
    issuer: subjectName({ commonName, organizations: [] }),
    publicKey: spki,
    signingKey: await signingKey(key),
    signingAlgorithm: signatureAlgorithm(key),
    ...validity,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(spki),
    ],
  });
  return cert.toString('pem') + '\n';
}

export async function issueLeafCertificate(profile: CertificateProfile, publicKey: KeyObject, issuer: Issuer, validity: Validity): Promise<string> {
  const x509 = await x509Library();
  const ca = await signerOf(issuer);
  const spki = publicKeyDer(publicKey);
  // Key encipherment only means something for RSA key exchange; ECDSA keys only sign.
  const keyUsage = x509.KeyUsageFlags.digitalSignature | (publicKey.asymmetricKeyType === 'rsa' ? x509.KeyUsageFlags.keyEncipherment : 0);
  const names = [...profile.dnsNames.map((value) => ({ type: 'dns' as const, value })), ...profile.ipAddresses.map((value) => ({ type: 'ip' as const, value }))];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: subjectName(profile),
    issuer: ca.name,
    publicKey: spki,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.algorithm,
    ...validity,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension(profile.usages.map((u) => EKU_OIDS[u])),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.SubjectKeyIdentifierExtension.create(spki),
      ca.authorityKeyId,
    ],
  });
  return cert.toString('pem') + '\n';
}

/** What signing with a CA needs, worked out once per CA and run rather than once per leaf. */
interface Signer {
  name: X509.Name;
  signingKey: webcrypto.CryptoKey;
  algorithm: ReturnType<typeof signatureAlgorithm>;
  authorityKeyId: X509.AuthorityKeyIdentifierExtension;
}

const signers = new WeakMap<Issuer, Promise<Signer>>();

function signerOf(issuer: Issuer): Promise<Signer> {
  let signer = signers.get(issuer);
  if (!signer) {
    signer = (async () => {
      const x509 = await x509Library();
      const cert = new x509.X509Certificate(issuer.certPem);
      return {
        name: cert.subjectName,
        signingKey: await signingKey(issuer.key),
        algorithm: signatureAlgorithm(issuer.key),
        authorityKeyId: await x509.AuthorityKeyIdentifierExtension.create(cert.publicKey),
      };
    })();
    signers.set(issuer, signer);
  }
  return signer;
}

/**
 * Parses a PEM certificate; undefined when the text is not one. Reading uses Node's own parser
 * (OpenSSL's, native): a no-op run reads every certificate of the cluster, hundreds for a large
 * inventory, and the pure-JavaScript ASN.1 decoder costs milliseconds each.
 */
export function parseCertificate(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** Reads a PEM certificate (or describes a parsed one); undefined when the text is not one. */
export function readCertificate(pem: string | X509Certificate): CertificateInfo | undefined {
  const cert = typeof pem === 'string' ? parseCertificate(pem) : pem;
  if (!cert) return undefined;
  const subject = distinguishedName(cert.subject);
  const san = subjectAltNames(cert.subjectAltName ?? '');
  const eku = cert.keyUsage ?? [];
  return {
    subject: subject.map(([k, v]) => `${k}=${v}`).join(', '),
    commonName: subject.find(([k]) => k === 'CN')?.[1] ?? '',
    organizations: subject.filter(([k]) => k === 'O').map(([, v]) => v),
    issuer: distinguishedName(cert.issuer)
      .map(([k, v]) => `${k}=${v}`)
      .join(', '),
    dnsNames: san.filter(([k]) => k === 'DNS').map(([, v]) => v),
    ipAddresses: san.filter(([k]) => k === 'IP Address').map(([, v]) => v),
    usages: (Object.keys(EKU_OIDS) as ExtendedUsage[]).filter((u) => eku.includes(EKU_OIDS[u])),
    isCa: cert.ca,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    serialNumber: cert.serialNumber.toLowerCase(),
    fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}

/** True when `ca`'s key signed `cert` (signature and names only: dates are judged separately). */
export function signedBy(cert: string | X509Certificate, ca: string | X509Certificate): boolean {
  const c = typeof cert === 'string' ? parseCertificate(cert) : cert;
  const a = typeof ca === 'string' ? parseCertificate(ca) : ca;
  return !!c && !!a && c.checkIssued(a) && c.verify(a.publicKey);
}

/** True when `key` is the private key of the certificate's public key. */
export function certifiesKey(cert: string | X509Certificate, key: KeyObject): boolean {
  const c = typeof cert === 'string' ? parseCertificate(cert) : cert;
  return !!c && c.checkPrivateKey(key);
}

/** `O=system:nodes\nCN=system:node:n1` as Node prints a name, as pairs in order. */
function distinguishedName(text: string): Array<[string, string]> {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at), unquote(line.slice(at + 1))];
    });
}

/** `DNS:a, IP Address:10.0.0.1`; Node quotes (JSON) a value that holds a comma or a quote. */
function subjectAltNames(text: string): Array<[string, string]> {
  return [...text.matchAll(/(DNS|IP Address|email|URI):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g)].map((m) => [m[1]!, unquote(m[2]!)]);
}

/**
 * A value as the certificate holds it, Node's quoting (JSON) undone, escape sequences and all: a
 * host's certificate decides these bytes, so they are for comparing, and reach a terminal or a
 * report only through `printable` (see cli/output/certs-text.ts).
 */
function unquote(value: string): string {
  return value.startsWith('"') ? (JSON.parse(value) as string) : value;
}

/** Whole days from `now` until the certificate expires (negative once expired). */
export function daysLeft(info: Pick<CertificateInfo, 'notAfter'>, now: Date): number {
  return Math.floor((info.notAfter.getTime() - now.getTime()) / 86_400_000);
}

/** Go's pkix.Name encodes O before CN; OpenSSL then prints `O=..., CN=...` as kubeadm's certs do. */
function subjectName(p: Pick<CertificateProfile, 'commonName' | 'organizations'>): X509.JsonName {
  return [...p.organizations.map((o) => ({ O: [o] })), { CN: [p.commonName] }];
}

/** 126 random bits; positive with a non-zero first octet, so its DER is 16 octets (RFC 5280: at most 20). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}
