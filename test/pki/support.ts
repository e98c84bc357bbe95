import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ClusterSpec, HostSpec } from '../../src/config/cluster-spec.js';
import { checkHost, type CertCheck } from '../../src/pki/check.js';
import { deployedScript, parseDeployed } from '../../src/pki/deployed.js';
import { hostPkiContents } from '../../src/pki/host-files.js';
import { hostPkiFiles } from '../../src/pki/host-layout.js';
import { reconcilePki, storedPki } from '../../src/pki/reconcile.js';
import { PkiStore } from '../../src/pki/store.js';
import { issueCaCertificate, issueLeafCertificate, validityFrom } from '../../src/pki/certificate.js';
import { shRun } from '../engine/support.js';
import { clusterFrom } from '../support/cluster.js';
import { generatePrivateKey } from '../../src/pki/keys.js';
import { skipUnlessAvailable } from '../support/prerequisites.js';

/** An inventory with every role combination the PKI distinguishes. */
export const PKI_INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: m2, address: 10.0.0.12, roles: [etcd, master, worker] }
  - { name: w1, address: 10.0.0.21, roles: [worker] }
  - { name: e1, address: 10.0.0.31, roles: [etcd] }
`;

export interface HostHoldingPki {
  spec: ClusterSpec;
  store: PkiStore;
  host: HostSpec;
  /** The folder that stands for the host's `/`. */
  root: string;
  /** certs check's real read script, run on this machine with the host's paths moved under `root`. */
  read(now?: Date, days?: number): CertCheck[];
}

/** The worker w1 of PKI_INVENTORY, under `dir`, holding what the pki phase installs there. */
export async function hostHoldingPki(dir: string): Promise<HostHoldingPki> {
  const spec = clusterFrom(join(dir), '', PKI_INVENTORY);
  const store = new PkiStore(join(dir, 'pki'));
  const pki = await reconcilePki(spec, store, { now: new Date() });
  await pki.persist();
  const host = spec.hosts.find((h) => h.name === 'w1')!;
  const root = join(dir, 'host');
  for (const f of hostPkiContents(spec, host, pki)) {
    mkdirSync(dirname(join(root, f.path)), { recursive: true });
    writeFileSync(join(root, f.path), f.content);
  }
  const read = (now = new Date(), days = 30) => {
    const files = hostPkiFiles(spec, host);
    const out = shRun(deployedScript(files).replaceAll('/etc/kubernetes', `${root}/etc/kubernetes`)).stdout;
    return checkHost(spec, host, storedPki(spec, store), parseDeployed(out, files), now, days);
  };
  return { spec, store, host, root, read };
}

export const opensslAvailable = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
})();

export const skipWithoutOpenssl = (): boolean => skipUnlessAvailable(opensslAvailable, 'openssl (to check certificates independently)');

/** `openssl verify` of `certPem` against `caPem` for a purpose: what a TLS peer would accept. Returns openssl's output. */
export function opensslVerify(caPem: string, certPem: string, purpose?: 'sslserver' | 'sslclient'): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kubestrap-verify-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), caPem);
    writeFileSync(join(dir, 'leaf.crt'), certPem);
    const args = ['verify', '-x509_strict', '-CAfile', join(dir, 'ca.crt'), ...(purpose ? ['-purpose', purpose] : []), join(dir, 'leaf.crt')];
    try {
      return { ok: true, output: execFileSync('openssl', args, { encoding: 'utf8', stdio: 'pipe' }) };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `openssl x509 -text` of a certificate. */
export function opensslText(certPem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text'], { input: certPem, encoding: 'utf8' });
}

/**
 * A certificate whose names draw over the screen: clear it, put the cursor home, print the verdict,
 * turn the text around (bidi override), and a C1 CSI (one byte that terminals take for ESC [).
 */
const HOSTILE = '\x1b[2J\x1b[H\rall certificates valid for more than 30 days and in place\u202e\x9b31m';

/** A leaf whose subject, issuer and SANs carry HOSTILE; a newline in a SAN would start a line of its own. */
export async function hostileCertificate(): Promise<string> {
  const caKey = await generatePrivateKey('ecdsa-p256');
  const validity = validityFrom(new Date(), 365);
  const caPem = await issueCaCertificate(`ca${HOSTILE}`, caKey, validity);
  const profile = {
    commonName: `cn${HOSTILE}`,
    organizations: [`o${HOSTILE}`],
    dnsNames: [`dns${HOSTILE}\nall certificates valid for more than 30 days and in place`],
    ipAddresses: ['10.0.0.21'],
    usages: ['serverAuth' as const],
  };
  return issueLeafCertificate(profile, await generatePrivateKey('ecdsa-p256'), { certPem: caPem, key: caKey }, validity);
}

/** Control characters, DEL, C1 controls and the bidirectional and invisible format characters. */
export const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
