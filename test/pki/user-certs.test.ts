import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateError } from '../../src/errors.js';
import { certifiesKey, parseCertificate, readCertificate, signedBy } from '../../src/pki/certificate.js';
import { parsePrivateKey } from '../../src/pki/keys.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { localPkiStore } from '../../src/pki/store.js';
import { checkPersonalCertificates, identityProblems, issuePersonalCertificate } from '../../src/pki/user-certs.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { PKI_INVENTORY } from './support.js';

const DAY = 86_400_000;

describe('personal certificates', () => {
  const tmp = useTempDir();

  async function withPki(config = '') {
    const spec = clusterFrom(tmp(), config, PKI_INVENTORY);
    const store = localPkiStore(spec);
    await (await reconcilePki(spec, store, { now: new Date() })).persist();
    return { spec, store };
  }

  it('accepts a person and their groups; refuses system: names, system:masters, the cluster own identities and odd characters', () => {
    const spec = clusterFrom(tmp(), '', PKI_INVENTORY);
    expect(identityProblems(spec, { user: 'alice', groups: ['dev', 'team:ops', 'org/sre'] })).toEqual([]);
    expect(identityProblems(spec, { user: 'alice@example.com', groups: [] })).toEqual([]);
    const refused = (user: string, groups: string[] = []) => identityProblems(spec, { user, groups });
    expect(refused('alice', ['system:masters'])).toEqual([expect.stringContaining('group "system:masters": system: groups are Kubernetes\' own')]);
    expect(refused('alice', ['System:Nodes'])).toHaveLength(1);
    expect(refused('system:node:w1')).toEqual(expect.arrayContaining([expect.stringContaining("system: names are Kubernetes' own identities")]));
    // Their bindings would come with the name: the admin's, the API server's kubelet client.
    expect(refused('kubestrap-admin')).toEqual(['user "kubestrap-admin" is the name of one of the cluster\'s own certificates']);
    expect(refused('kube-apiserver-kubelet-client')).toHaveLength(1);
    for (const bad of ['', '../x', 'a b', '-rf', 'a\u001b[2J', 'x'.repeat(129)]) expect(refused(bad), bad).toHaveLength(1);
    expect(refused('bob', ['dev', 'dev'])).toEqual(['a group is given twice']);
    expect(refused('bob', ['a,b'])).toHaveLength(1);
  });

  it('issues from the cluster CA: CN the user, O the groups, client use only, a new key, for the days asked', async () => {
    const { store } = await withPki();
    const now = new Date();
    const c = await issuePersonalCertificate(store, { user: 'alice', groups: ['dev', 'qa'] }, 30, now);
    const info = readCertificate(c.certPem)!;
    expect(info.commonName).toBe('alice');
    expect(info.organizations).toEqual(['dev', 'qa']);
    expect(info.usages).toEqual(['clientAuth']);
    expect(info.isCa).toBe(false);
    expect(signedBy(c.certPem, store.read('ca').certPem!)).toBe(true);
    expect(c.caCertPem).toBe(store.read('ca').certPem);
    expect(certifiesKey(parseCertificate(c.certPem)!, parsePrivateKey(c.keyPem)!)).toBe(true);
    // Never the admin's key, never the CA's.
    expect([store.read('admin').keyPem, store.read('ca').keyPem]).not.toContain(c.keyPem);
    expect(Math.round((info.notAfter.getTime() - now.getTime()) / DAY)).toBe(30);
  });

  it('never lasts past the CA', async () => {
    const { store } = await withPki('CA_VALIDITY_DAYS=400\n');
    const c = await issuePersonalCertificate(store, { user: 'alice', groups: [] }, 10_000, new Date());
    expect(c.info.notAfter.getTime()).toBe(readCertificate(store.read('ca').certPem!)!.notAfter.getTime());
  });

  it('records the certificate (never the key) where certs check lists it, the latest per user, saying which it replaced', async () => {
    const { store } = await withPki();
    const now = new Date();
    const first = await issuePersonalCertificate(store, { user: 'alice', groups: ['dev'] }, 365, now);
    expect(first.replaced).toBeUndefined();
    await issuePersonalCertificate(store, { user: 'bob', groups: [] }, 20, now);
    const second = await issuePersonalCertificate(store, { user: 'alice', groups: ['dev'] }, 365, now);
    expect(second.replaced?.serialNumber).toBe(first.info.serialNumber);
    expect(readdirSync(join(store.dir, 'users')).sort()).toEqual(['alice.crt', 'bob.crt']);
    expect(store.read('users/alice')).toEqual({ certPem: second.certPem });

    const rows = checkPersonalCertificates(store, now, 30);
    expect(rows.map((r) => [r.name, r.subject, r.daysLeft, r.problems])).toEqual([
      ['users/alice', 'O=dev, CN=alice', 364, []],
      ['users/bob', 'CN=bob', 19, ['expires in 19 days']],
    ]);
    expect(rows[0]!.path).toBe(join(store.dir, 'users', 'alice.crt'));
    expect(checkPersonalCertificates(store, new Date(now.getTime() + 40 * DAY), 30)[1]!.problems).toEqual(['expired 21 days ago']);
  });

  it('lists nothing before any was issued, and refuses to issue without the cluster CA', async () => {
    const spec = clusterFrom(tmp(), '', PKI_INVENTORY);
    const store = localPkiStore(spec);
    expect(checkPersonalCertificates(store, new Date(), 30)).toEqual([]);
    const refused = issuePersonalCertificate(store, { user: 'alice', groups: [] }, 30, new Date());
    await expect(refused).rejects.toThrow(StateError);
    await expect(refused).rejects.toThrow('there is no cluster CA to issue a personal certificate with');
  });
});
