import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClusterSpec } from '../../src/config/cluster-spec.js';
import { StateError } from '../../src/errors.js';
import { pkiCatalog } from '../../src/pki/catalog.js';
import { certifiesKey, daysLeft, issueLeafCertificate, readCertificate, signedBy, validityFrom } from '../../src/pki/certificate.js';
import { generatePrivateKey, parsePrivateKey, privateKeyPem } from '../../src/pki/keys.js';
import { reconcilePki, type PreparedPki } from '../../src/pki/reconcile.js';
import { PkiStore } from '../../src/pki/store.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { opensslText, opensslVerify, PKI_INVENTORY, skipWithoutOpenssl } from './support.js';

// The machine's clock, which OpenSSL checks dates against, in whole seconds as certificates hold them.
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const DAY = 86_400_000;

function setup(dir: string, config = '', inventory = PKI_INVENTORY): { spec: ClusterSpec; store: PkiStore } {
  const spec = clusterFrom(dir, config, inventory);
  return { spec, store: new PkiStore(join(dir, 'pki')) };
}

async function converged(spec: ClusterSpec, store: PkiStore, now = NOW): Promise<PreparedPki> {
  const pki = await reconcilePki(spec, store, { now });
  await pki.persist();
  return pki;
}

const cert = (pki: PreparedPki, name: string) => readCertificate(pki.items.get(name)!.certPem!)!;

describe('reconcilePki on an empty store', () => {
  const tmp = useTempDir();

  it('issues three CAs, the service-account key pair, the encryption key and every leaf of the catalog', async () => {
    const { spec, store } = setup(tmp());
    const pki = await reconcilePki(spec, store, { now: NOW });
    expect(pki.issued.filter((i) => i.kind === 'ca').map((i) => i.name)).toEqual(['ca', 'etcd-ca', 'front-proxy-ca']);
    expect(pki.issued.filter((i) => i.kind === 'key').map((i) => i.name)).toEqual(['sa', 'encryption']);
    expect(
      pki.issued
        .filter((i) => i.kind === 'leaf')
        .map((i) => i.name)
        .sort(),
    ).toEqual(
      [
        'admin',
        'apiserver',
        'apiserver-etcd-client',
        'apiserver-kubelet-client',
        'controller-manager',
        'etcd-admin-client',
        'etcd-flannel-client',
        'etcd-healthcheck-client',
        'etcd-peer/e1',
        'etcd-peer/m1',
        'etcd-peer/m2',
        'etcd-server/e1',
        'etcd-server/m1',
        'etcd-server/m2',
        'front-proxy-client',
        'kube-proxy',
        'kubelet-client/m2',
        'kubelet-client/w1',
        'kubelet/m2',
        'kubelet/w1',
        'scheduler',
      ].sort(),
    );
    expect(pki.issued.every((i) => i.reason === 'new')).toBe(true);
  });

  it('keeps everything in memory until persist(): a plan writes nothing', async () => {
    const { spec, store } = setup(tmp());
    const pki = await reconcilePki(spec, store, { now: NOW });
    expect(store.read('ca')).toEqual({});
    await pki.persist();
    expect(store.read('ca').certPem).toBe(pki.items.get('ca')!.certPem);
  });

  it('signs every leaf with its own CA, as the library and OpenSSL both verify, for its purpose', async () => {
    const { spec, store } = setup(tmp());
    const pki = await reconcilePki(spec, store, { now: NOW });
    for (const leaf of pki.catalog.leaves) {
      const leafPem = pki.items.get(leaf.name)!.certPem!;
      const caPem = pki.items.get(leaf.ca)!.certPem!;
      expect(signedBy(leafPem, caPem), leaf.name).toBe(true);
      for (const other of pki.catalog.cas.filter((c) => c.name !== leaf.ca)) {
        expect(signedBy(leafPem, pki.items.get(other.name)!.certPem!), `${leaf.name} under ${other.name}`).toBe(false);
      }
      if (skipWithoutOpenssl()) continue;
      const purposes = leaf.profile.usages.map((u): 'sslserver' | 'sslclient' => (u === 'serverAuth' ? 'sslserver' : 'sslclient'));
      for (const purpose of purposes) {
        const result = opensslVerify(caPem, leafPem, purpose);
        expect(result.ok, `${leaf.name} ${purpose}: ${result.output}`).toBe(true);
      }
      if (!leaf.profile.usages.includes('serverAuth')) expect(opensslVerify(caPem, leafPem, 'sslserver').ok, `${leaf.name} as a server`).toBe(false);
    }
  });

  it('gives each certificate the subject, SANs and usages the authorizers and TLS peers expect', async () => {
    const { spec, store } = setup(tmp(), 'APISERVER_EXTRA_SANS=203.0.113.10,k8s.example.com\nMASTER_IP=10.0.0.100\n');
    const pki = await reconcilePki(spec, store, { now: NOW });
    const apiserver = cert(pki, 'apiserver');
    expect(apiserver.commonName).toBe('kube-apiserver');
    expect(apiserver.usages).toEqual(['serverAuth']);
    expect(apiserver.ipAddresses.sort()).toEqual(['10.0.0.11', '10.0.0.12', '10.0.0.100', '10.68.0.1', '127.0.0.1', '203.0.113.10'].sort());
    expect(apiserver.dnsNames.sort()).toEqual(['m1', 'm2', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'k8s.example.com'].sort());
    const subjects = Object.fromEntries(pki.catalog.leaves.map((l) => [l.name, cert(pki, l.name).subject]));
    expect(subjects).toMatchObject({
      'kubelet-client/w1': 'O=system:nodes, CN=system:node:w1',
      'kubelet-client/m2': 'O=system:nodes, CN=system:node:m2',
      'controller-manager': 'CN=system:kube-controller-manager',
      scheduler: 'CN=system:kube-scheduler',
      'kube-proxy': 'CN=system:kube-proxy',
      admin: 'O=system:masters, CN=kubestrap-admin',
      'apiserver-kubelet-client': 'CN=kube-apiserver-kubelet-client',
      'apiserver-etcd-client': 'CN=kube-apiserver-etcd-client',
      'front-proxy-client': 'CN=front-proxy-client',
      'etcd-flannel-client': 'CN=flanneld',
    });
    for (const member of ['m1', 'm2', 'e1']) {
      const ip = spec.hosts.find((h) => h.name === member)!.nodeIp;
      for (const kind of ['etcd-server', 'etcd-peer']) {
        const c = cert(pki, `${kind}/${member}`);
        expect([c.dnsNames.sort(), c.ipAddresses.sort(), c.usages]).toEqual([['localhost', member].sort(), ['127.0.0.1', ip].sort(), ['serverAuth', 'clientAuth']]);
      }
    }
    const kubelet = cert(pki, 'kubelet/w1');
    expect([kubelet.dnsNames, kubelet.ipAddresses, kubelet.usages]).toEqual([['w1'], ['10.0.0.21'], ['serverAuth']]);
    for (const client of [
      'admin',
      'controller-manager',
      'scheduler',
      'kube-proxy',
      'kubelet-client/w1',
      'apiserver-kubelet-client',
      'apiserver-etcd-client',
      'front-proxy-client',
      'etcd-flannel-client',
      'etcd-healthcheck-client',
    ]) {
      expect(cert(pki, client).usages, client).toEqual(['clientAuth']);
    }
  });

  it('marks CAs as CAs and leaves as leaves, with the key usages each needs (as OpenSSL reads them)', async () => {
    if (skipWithoutOpenssl()) return;
    const { spec, store } = setup(tmp());
    const pki = await reconcilePki(spec, store, { now: NOW });
    for (const ca of ['ca', 'etcd-ca', 'front-proxy-ca']) {
      const text = opensslText(pki.items.get(ca)!.certPem!);
      expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
      expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
      expect(text).toMatch(/Public Key Algorithm: id-ecPublicKey[\s\S]*NIST CURVE: P-256/);
    }
    const apiserver = opensslText(pki.items.get('apiserver')!.certPem!);
    expect(apiserver).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(apiserver).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(apiserver).toMatch(/Extended Key Usage: \s+TLS Web Server Authentication\n/);
    expect(apiserver).toMatch(/Issuer: CN ?= ?kubernetes\n/);
    expect(opensslText(pki.items.get('etcd-peer/m1')!.certPem!)).toMatch(/Extended Key Usage: \s+TLS Web Server Authentication, TLS Web Client Authentication/);
  });

  it('makes CAs valid for CA_VALIDITY_DAYS and leaves for CERT_VALIDITY_DAYS, from a little before now', async () => {
    const { spec, store } = setup(tmp(), 'CA_VALIDITY_DAYS=1000\nCERT_VALIDITY_DAYS=90\nCERT_RENEW_BEFORE_DAYS=10\n');
    const pki = await reconcilePki(spec, store, { now: NOW });
    expect(cert(pki, 'etcd-ca').notAfter.getTime()).toBe(NOW.getTime() + 1000 * DAY);
    expect(cert(pki, 'apiserver').notAfter.getTime()).toBe(NOW.getTime() + 90 * DAY);
    // Backdated, so a host whose clock is a little behind does not see "not yet valid".
    expect(cert(pki, 'apiserver').notBefore.getTime()).toBeLessThan(NOW.getTime());
    expect(cert(pki, 'apiserver').notBefore.getTime()).toBeGreaterThan(NOW.getTime() - DAY);
  });

  it('makes the service-account key an RSA key of its own, not a CA key', async () => {
    const { spec, store } = setup(tmp());
    const pki = await reconcilePki(spec, store, { now: NOW });
    const sa = parsePrivateKey(pki.items.get('sa')!.keyPem!)!;
    expect([sa.asymmetricKeyType, sa.asymmetricKeyDetails?.modulusLength]).toEqual(['rsa', 2048]);
    expect(pki.items.get('sa')!.publicPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    for (const ca of pki.catalog.cas) expect(pki.items.get(ca.name)!.keyPem).not.toBe(pki.items.get('sa')!.keyPem);
  });
});

describe('reconcilePki on a store that has the PKI', () => {
  const tmp = useTempDir();

  it('issues nothing on a re-run and hands out the very same certificates and keys', async () => {
    const { spec, store } = setup(tmp());
    const first = await converged(spec, store);
    const again = await reconcilePki(spec, store, { now: new Date(NOW.getTime() + 10 * DAY) });
    expect(again.issued).toEqual([]);
    expect([...again.items.entries()]).toEqual([...first.items.entries()]);
  });

  it("adds what a PKI made before them lacks (the encryption key, etcd's root certificate) and changes nothing else", async () => {
    const { spec, store } = setup(tmp());
    const before = await converged(spec, store);
    for (const file of [store.pathOf('encryption', 'keyPem'), store.pathOf('etcd-admin-client', 'certPem'), store.pathOf('etcd-admin-client', 'keyPem')]) rmSync(file);
    const after = await reconcilePki(spec, store, { now: NOW });
    expect(after.issued.map((i) => [i.name, i.reason])).toEqual([
      ['encryption', 'new'],
      ['etcd-admin-client', 'new'],
    ]);
    expect(cert(after, 'etcd-admin-client').commonName).toBe('root');
    expect(after.items.get('ca')).toEqual(before.items.get('ca'));
  });

  it('refuses a damaged encryption key instead of making a new one that could not read what the old one wrote', async () => {
    const { spec, store } = setup(tmp());
    await converged(spec, store);
    await store.writeAll([['encryption', { keyPem: '{"provider":"secretbox","name":"key-1","secret":"c2hvcnQ="}\n' }]]);
    await expect(reconcilePki(spec, store, { now: NOW })).rejects.toThrow(StateError);
    await expect(reconcilePki(spec, store, { now: NOW })).rejects.toThrow(/is not an encryption key/);
  });

  it('re-issues only the API server certificate when a master is added, with the new SANs', async () => {
    const { spec, store } = setup(tmp());
    const before = await converged(spec, store);
    const grown = PKI_INVENTORY.replace('  - { name: w1,', '  - { name: m3, address: 10.0.0.13, roles: [master] }\n  - { name: w1,');
    const after = await reconcilePki(setup(tmp(), '', grown).spec, store, { now: NOW });
    expect(after.issued).toEqual([{ name: 'apiserver', kind: 'leaf', reason: 'no longer matches the inventory: DNS m3 added, IP 10.0.0.13 added' }]);
    expect(cert(after, 'apiserver').ipAddresses).toContain('10.0.0.13');
    expect(after.items.get('apiserver')!.keyPem).not.toBe(before.items.get('apiserver')!.keyPem);
  });

  it('issues the kubelet certificates of an added worker and changes nothing else', async () => {
    const { spec, store } = setup(tmp());
    await converged(spec, store);
    const grown = `${PKI_INVENTORY}  - { name: w2, address: 10.0.0.22, roles: [worker] }\n`;
    const after = await reconcilePki(setup(tmp(), '', grown).spec, store, { now: NOW });
    expect(after.issued.map((i) => [i.name, i.reason])).toEqual([
      ['kubelet-client/w2', 'new'],
      ['kubelet/w2', 'new'],
    ]);
  });

  it('checks a leaf in full again once any of its files changed, though an earlier run found it sound', async () => {
    const { spec, store } = setup(tmp());
    await converged(spec, store);
    // The leaves issued are known sound from the run that kept them on; a key that is no longer the certificate's must not pass on that.
    expect(readdirSync(store.dir)).toContain('checked.json');
    await store.writeAll([['kube-proxy', { certPem: store.read('kube-proxy').certPem!, keyPem: privateKeyPem(await generatePrivateKey('ecdsa-p256')) }]]);
    const again = await reconcilePki(spec, store, { now: NOW });
    expect(again.issued).toEqual([{ name: 'kube-proxy', kind: 'leaf', reason: 'its key does not match its certificate' }]);
  });

  it('judges expiry and the inventory each run, also for a leaf found sound before', async () => {
    const { spec, store } = setup(tmp());
    await converged(spec, store);
    await reconcilePki(spec, store, { now: NOW });
    const grown = PKI_INVENTORY.replace('  - { name: w1,', '  - { name: m3, address: 10.0.0.13, roles: [master] }\n  - { name: w1,');
    const after = await reconcilePki(setup(tmp(), '', grown).spec, store, { now: new Date(NOW.getTime() + 340 * DAY) });
    expect(after.issued.find((i) => i.name === 'apiserver')?.reason).toBe('no longer matches the inventory: DNS m3 added, IP 10.0.0.13 added');
    expect(after.issued.find((i) => i.name === 'kube-proxy')?.reason).toBe('expires in 25 days');
  });

  it('re-issues just the leaf that expires within CERT_RENEW_BEFORE_DAYS', async () => {
    const { spec, store } = setup(tmp());
    const pki = await converged(spec, store);
    // A kube-proxy certificate that has 20 days left, issued by the same CA.
    const leaf = pki.catalog.leaves.find((l) => l.name === 'kube-proxy')!;
    const key = await generatePrivateKey('ecdsa-p256');
    const ca = { certPem: pki.items.get('ca')!.certPem!, key: parsePrivateKey(pki.items.get('ca')!.keyPem!)! };
    const short = await issueLeafCertificate(leaf.profile, key, ca, validityFrom(NOW, 20));
    await store.writeAll([['kube-proxy', { certPem: short, keyPem: privateKeyPem(key) }]]);

    const again = await reconcilePki(spec, store, { now: NOW });
    expect(again.issued).toEqual([{ name: 'kube-proxy', kind: 'leaf', reason: 'expires in 20 days' }]);
    expect(daysLeft(cert(again, 'kube-proxy'), NOW)).toBe(365);
  });

  it('re-issues every leaf once they all come into the window, and never a CA', async () => {
    const { spec, store } = setup(tmp());
    await converged(spec, store);
    const later = new Date(NOW.getTime() + 340 * DAY);
    const again = await reconcilePki(spec, store, { now: later });
    expect(again.issued.every((i) => i.kind === 'leaf' && i.reason === 'expires in 25 days')).toBe(true);
    expect(again.issued).toHaveLength(pkiCatalog(spec).leaves.length);
  });

  it('does not re-issue a leaf that already ends with its CA, and warns about the CA instead', async () => {
    const { spec, store } = setup(tmp(), 'CA_VALIDITY_DAYS=400\n');
    await converged(spec, store);
    const later = new Date(NOW.getTime() + 380 * DAY);
    const first = await converged(spec, store, later);
    expect(first.issued.length).toBeGreaterThan(0);
    expect(cert(first, 'apiserver').notAfter).toEqual(cert(first, 'ca').notAfter);
    const second = await reconcilePki(spec, store, { now: later });
    expect(second.issued).toEqual([]);
    expect(second.warnings.map((w) => w.message)).toContain('the ca expires in 20 days; certificates it issues end with it');
  });

  it('re-issues a leaf whose key was lost or does not belong to its certificate', async () => {
    const { spec, store } = setup(tmp());
    const pki = await converged(spec, store);
    rmSync(store.pathOf('scheduler', 'keyPem'));
    await store.writeAll([['admin', { keyPem: pki.items.get('scheduler')!.keyPem }]]);
    const again = await reconcilePki(spec, store, { now: NOW });
    expect(again.issued.map((i) => [i.name, i.reason])).toEqual([
      ['admin', 'its key does not match its certificate'],
      ['scheduler', 'its key is missing'],
    ]);
  });

  it('issues a new CA and re-issues all its leaves when the CA is gone; the hosts decide whether that may go ahead', async () => {
    const { spec, store } = setup(tmp());
    await converged(spec, store);
    rmSync(store.pathOf('etcd-ca', 'certPem'));
    rmSync(store.pathOf('etcd-ca', 'keyPem'));
    const again = await reconcilePki(spec, store, { now: NOW });
    const etcdLeaves = pkiCatalog(spec)
      .leaves.filter((l) => l.ca === 'etcd-ca')
      .map((l) => l.name);
    expect(again.issued.map((i) => i.name).sort()).toEqual(['etcd-ca', ...etcdLeaves].sort());
    expect(again.issued.find((i) => i.name === 'apiserver-etcd-client')!.reason).toBe('it was not issued by the current etcd-ca');
  });

  it('refuses a CA whose certificate or key alone is left, naming the file and how to restore it', async () => {
    const { spec, store } = setup(tmp());
    await converged(spec, store);
    rmSync(store.pathOf('ca', 'keyPem'));
    const refusal = await reconcilePki(spec, store, { now: NOW }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(StateError);
    expect((refusal as StateError).format()).toBe(
      `${store.pathOf('ca', 'keyPem')}: the ca key is missing while its certificate is there\n  fix: restore ${store.dir} from your backup; kubestrap never replaces a CA by itself`,
    );
  });

  it('renews exactly the named leaves, whatever their dates, and refuses to renew without a CA', async () => {
    const { spec, store } = setup(tmp());
    const before = await converged(spec, store);
    const renewed = await reconcilePki(spec, store, { now: NOW, mode: { kind: 'renew', names: new Set(['apiserver', 'kubelet/w1']) } });
    expect(renewed.issued.map((i) => [i.name, i.reason])).toEqual([
      ['apiserver', 'renewal requested'],
      ['kubelet/w1', 'renewal requested'],
    ]);
    expect(cert(renewed, 'apiserver').serialNumber).not.toBe(cert(before, 'apiserver').serialNumber);

    const refusal = await reconcilePki(spec, new PkiStore(join(tmp(), 'elsewhere')), { now: NOW, mode: { kind: 'renew', names: new Set(['apiserver']) } }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(StateError);
    expect((refusal as StateError).message).toBe('there is no ca to renew certificates with');
  });

  it('pairs every stored key with its certificate', async () => {
    const { spec, store } = setup(tmp());
    const pki = await converged(spec, store);
    for (const leaf of pki.catalog.leaves) {
      const item = store.read(leaf.name);
      expect(certifiesKey(item.certPem!, parsePrivateKey(item.keyPem!)!), leaf.name).toBe(true);
    }
    expect(readdirSync(store.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
