import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { issueLeafCertificate, readCertificate, signedBy, validityFrom } from '../../src/pki/certificate.js';
import { generatePrivateKey, parsePrivateKey, privateKeyPem } from '../../src/pki/keys.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { localPkiStore } from '../../src/pki/store.js';
import { kubeconfigReportSchema } from '../../src/cli/output/access-json.js';
import { runCli } from '../support/cli.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { PKI_INVENTORY } from '../pki/support.js';

interface Kubeconfig {
  clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority-data': string; 'tls-server-name'?: string } }>;
  users: Array<{ name: string; user: { 'client-certificate-data': string; 'client-key-data': string } }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string } }>;
  'current-context': string;
}

const decode = (b64: string) => Buffer.from(b64, 'base64').toString();

describe('bootstrap kubeconfig', () => {
  const tmp = useTempDir();
  const args = () => ['-i', join(tmp(), 'inventory.yaml'), '-c', join(tmp(), 'config.properties')];
  afterEach(() => vi.unstubAllEnvs());

  async function withPki() {
    const spec = clusterFrom(tmp(), '', PKI_INVENTORY);
    const store = localPkiStore(spec);
    await (await reconcilePki(spec, store, { now: new Date() })).persist();
    return store;
  }

  it("writes a private kubeconfig with alice's own certificate and key, for the cluster's API server address", async () => {
    const store = await withPki();
    const out = join(tmp(), 'alice.kubeconfig');
    const run = await runCli(['kubeconfig', ...args(), '--user', 'alice', '--group', 'dev', '--out', out]);
    expect(run.code, run.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const k = parse(readFileSync(out, 'utf8')) as Kubeconfig;
    // MASTER_IP defaults to the first master.
    expect(k.clusters).toEqual([{ name: 'lab', cluster: { server: 'https://10.0.0.11:6443', 'certificate-authority-data': Buffer.from(store.read('ca').certPem!).toString('base64') } }]);
    expect(k.contexts).toEqual([{ name: 'alice@lab', context: { cluster: 'lab', user: 'alice@lab' } }]);
    expect(k['current-context']).toBe('alice@lab');
    const cert = decode(k.users[0]!.user['client-certificate-data']);
    expect(readCertificate(cert)).toMatchObject({ commonName: 'alice', organizations: ['dev'], usages: ['clientAuth'] });
    expect(signedBy(cert, store.read('ca').certPem!)).toBe(true);
    expect(cert).not.toBe(store.read('admin').certPem);
    expect(store.read('users/alice').certPem).toBe(cert);
    // The key is in the file and nowhere else: not in what the command prints, not in the store.
    const key = decode(k.users[0]!.user['client-key-data']);
    expect(parsePrivateKey(key)).toBeDefined();
    expect(run.stdout + run.stderr).not.toContain('PRIVATE KEY');
    expect(store.read('users/alice').keyPem).toBeUndefined();
    expect(run.stdout).toContain(`wrote ${out} (0600`);
    expect(run.stdout).toContain('kubectl create clusterrolebinding alice-view --clusterrole=view --user=alice');
  });

  it('points at the tunnel with --tunnel-port; checks the server as a name the serving certificate lists when it lacks 127.0.0.1', async () => {
    const store = await withPki();
    const out = join(tmp(), 'k');
    expect((await runCli(['kubeconfig', ...args(), '--user', 'alice', '--tunnel-port', '7443', '--out', out])).code).toBe(0);
    expect((parse(readFileSync(out, 'utf8')) as Kubeconfig).clusters[0]!.cluster).not.toHaveProperty('tls-server-name');
    expect((parse(readFileSync(out, 'utf8')) as Kubeconfig).clusters[0]!.cluster.server).toBe('https://127.0.0.1:7443');

    // A serving certificate issued without 127.0.0.1 (an older PKI).
    const ca = store.read('ca');
    const key = await generatePrivateKey('ecdsa-p256');
    const profile = { commonName: 'kube-apiserver', organizations: [], dnsNames: ['m1', 'kubernetes'], ipAddresses: ['10.0.0.11'], usages: ['serverAuth' as const] };
    const certPem = await issueLeafCertificate(profile, key, { certPem: ca.certPem!, key: parsePrivateKey(ca.keyPem!)! }, validityFrom(new Date(), 30));
    await store.writeAll([['apiserver', { certPem, keyPem: privateKeyPem(key) }]]);
    expect((await runCli(['kubeconfig', ...args(), '--user', 'alice', '--tunnel-port', '7443', '--out', out])).code).toBe(0);
    expect((parse(readFileSync(out, 'utf8')) as Kubeconfig).clusters[0]!.cluster['tls-server-name']).toBe('m1');
  });

  it('refuses system:masters and other system: identities, issuing and writing nothing', async () => {
    const store = await withPki();
    const out = join(tmp(), 'k');
    const masters = await runCli(['kubeconfig', ...args(), '--user', 'alice', '--group', 'dev', 'system:masters', '--out', out]);
    expect(masters.code).toBe(2);
    expect(masters.stderr).toContain('group "system:masters": system: groups are Kubernetes\' own (system:masters bypasses RBAC and cannot be revoked on a certificate)');
    expect(masters.stderr).toContain('fix: choose another name or group; bind roles to the user or its groups with RBAC');
    expect((await runCli(['kubeconfig', ...args(), '--user', 'system:node:w1', '--out', out])).code).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect(store.read('users/alice')).toEqual({});
  });

  it("--merge puts it into $KUBECONFIG's first file next to what was there, as the current context", async () => {
    await withPki();
    const file = join(tmp(), 'config');
    writeFileSync(file, 'apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: "https://prod:6443"}\nusers: []\ncontexts: []\ncurrent-context: ""\n');
    vi.stubEnv('KUBECONFIG', `${file}:${join(tmp(), 'other')}`);
    const run = await runCli(['kubeconfig', ...args(), '--user', 'alice', '--merge', '--output', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ user: 'alice', groups: [], server: 'https://10.0.0.11:6443', context: 'alice@lab', file: null, mergedInto: file, replaced: null });
    // Exactly the documented shape: no key more, none less.
    expect(kubeconfigReportSchema.strict().parse(report)).toEqual(report);
    const k = parse(readFileSync(file, 'utf8')) as Kubeconfig;
    expect(k.clusters.map((c) => c.name)).toEqual(['prod', 'lab']);
    expect(k['current-context']).toBe('alice@lab');
    expect(existsSync(join(tmp(), 'other'))).toBe(false);
    // Merge only: no second copy of the key next to the inventory.
    expect(existsSync(join(process.cwd(), 'lab-alice.kubeconfig'))).toBe(false);
  });

  it('says when there is no PKI yet', async () => {
    clusterFrom(tmp(), '', PKI_INVENTORY);
    const run = await runCli(['kubeconfig', ...args(), '--user', 'alice', '--out', join(tmp(), 'k')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('there is no cluster CA to issue a personal certificate with\n  fix: run `bootstrap init` (or `apply`) first');
  });
});
