import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { ClusterSpec } from '../../src/config/cluster-spec.js';
import { readCertificate } from '../../src/pki/certificate.js';
import { hostPkiContents } from '../../src/pki/host-files.js';
import { PKI_PATHS } from '../../src/components/paths.js';
import { hostPkiFiles } from '../../src/pki/host-layout.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { PkiStore } from '../../src/pki/store.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { PKI_INVENTORY } from './support.js';

const P = PKI_PATHS;

describe('hostPkiFiles: what each host holds', () => {
  const tmp = useTempDir();
  const spec = (config = ''): ClusterSpec => clusterFrom(tmp(), config, PKI_INVENTORY);
  const filesOf = (s: ClusterSpec, name: string) => hostPkiFiles(s, s.hosts.find((h) => h.name === name)!);
  const pathsOf = (s: ClusterSpec, name: string) => filesOf(s, name).map((f) => f.path);

  it('gives a worker no CA key, no etcd member keys and no service-account key', () => {
    const paths = pathsOf(spec(), 'w1');
    expect(paths.sort()).toEqual([P.caCert, P.etcdCaCert, P.etcdFlannelClientCert, P.etcdFlannelClientKey, P.kubeletCert, P.kubeletKey, P.kubeletConf, P.kubeProxyConf].sort());
  });

  it('keeps etcd server and peer keys on etcd members only, and nothing of Kubernetes on an etcd-only host', () => {
    const s = spec();
    for (const h of s.hosts) {
      const paths = pathsOf(s, h.name);
      const member = h.roles.includes('etcd');
      expect([h.name, paths.includes(P.etcdPeerKey), paths.includes(P.etcdServerKey)]).toEqual([h.name, member, member]);
    }
    expect(pathsOf(s, 'e1').sort()).toEqual(
      [P.etcdCaCert, P.etcdServerCert, P.etcdServerKey, P.etcdPeerCert, P.etcdPeerKey, P.etcdHealthcheckClientCert, P.etcdHealthcheckClientKey, P.etcdAdminClientCert, P.etcdAdminClientKey].sort(),
    );
  });

  it("keeps etcd's root certificate on etcd members and the encryption config on masters", () => {
    const s = spec();
    for (const h of s.hosts) {
      const paths = pathsOf(s, h.name);
      expect([h.name, paths.includes(P.etcdAdminClientKey), paths.includes(P.encryptionConfig)]).toEqual([h.name, h.roles.includes('etcd'), h.roles.includes('master')]);
    }
  });

  it('puts the service-account private key and the Kubernetes CA key on masters only, and the other CA keys nowhere', () => {
    const s = spec();
    for (const h of s.hosts) {
      const keys = filesOf(s, h.name)
        .filter((f) => f.content.kind === 'key')
        .map((f) => f.content.name);
      const master = h.roles.includes('master');
      expect([h.name, keys.includes('sa'), keys.includes('ca')]).toEqual([h.name, master, master]);
      expect(keys).not.toContain('etcd-ca');
      expect(keys).not.toContain('front-proxy-ca');
    }
  });

  it('makes keys and kubeconfigs 0600 secrets, certificates 0644, with the mode kubeadm uses', () => {
    for (const f of filesOf(spec(), 'm2')) {
      const secretFile = f.path.endsWith('.key') || f.path.endsWith('.conf') || f.path === P.encryptionConfig;
      expect([f.path, f.mode, f.secret]).toEqual([f.path, secretFile ? 0o600 : 0o644, secretFile]);
    }
  });

  it('restarts only the services on that host that read the file', () => {
    const s = spec();
    const restarts = (host: string, path: string) => filesOf(s, host).find((f) => f.path === path)?.restarts;
    expect(restarts('m1', P.caCert)).toEqual(['kube-apiserver', 'kube-controller-manager']);
    expect(restarts('m2', P.caCert)).toEqual(['kube-apiserver', 'kube-controller-manager', 'kubelet']);
    expect(restarts('w1', P.caCert)).toEqual(['kubelet']);
    expect(restarts('e1', P.etcdCaCert)).toEqual(['etcd']);
    expect(restarts('w1', P.etcdCaCert)).toEqual(['flanneld']);
    expect(restarts('m1', P.etcdCaCert)).toEqual(['etcd', 'kube-apiserver', 'flanneld']);
    expect(restarts('m1', P.apiserverCert)).toEqual(['kube-apiserver']);
    expect(restarts('m1', P.serviceAccountKey)).toEqual(['kube-apiserver', 'kube-controller-manager']);
    expect(restarts('m1', P.schedulerConf)).toEqual(['kube-scheduler']);
    expect(restarts('m1', P.adminConf)).toEqual([]);
    expect(restarts('m1', P.etcdHealthcheckClientKey)).toEqual([]);
    expect(restarts('w1', P.kubeletConf)).toEqual(['kubelet']);
    expect(restarts('w1', P.etcdFlannelClientKey)).toEqual(['flanneld']);
    expect(restarts('m1', P.etcdAdminClientKey)).toEqual([]);
    expect(restarts('m1', P.encryptionConfig)).toEqual(['kube-apiserver']);
  });

  it("in kube mode gives flanneld its kubeconfig instead of etcd's CA and a client certificate", () => {
    const s = spec('FLANNEL_MODE=kube\n');
    const restarts = (host: string, path: string) => filesOf(s, host).find((f) => f.path === path)?.restarts;
    expect(pathsOf(s, 'w1').sort()).toEqual([P.caCert, P.flannelConf, P.kubeletCert, P.kubeletKey, P.kubeletConf, P.kubeProxyConf].sort());
    expect(restarts('w1', P.flannelConf)).toEqual(['flanneld']);
    expect(restarts('m2', P.etcdCaCert)).toEqual(['etcd', 'kube-apiserver']);
  });

  it('hands out every PKI file to some host, in one flannel mode or the other', () => {
    const held = ['', 'FLANNEL_MODE=kube\n'].flatMap((config) => {
      const s = spec(config);
      return s.hosts.flatMap((h) => pathsOf(s, h.name));
    });
    expect(Object.values(P).filter((path) => !held.includes(path))).toEqual([]);
  });
});

describe('the encryption config on masters', () => {
  const tmp = useTempDir();

  it('encrypts Secrets with the local secretbox key and still reads plain ones, the same file on every master', async () => {
    const spec = clusterFrom(tmp(), '', PKI_INVENTORY);
    const pki = await reconcilePki(spec, new PkiStore(join(tmp(), 'pki')), { now: new Date('2026-12-07T10:00:00Z') });
    const content = (host: string) => hostPkiContents(spec, spec.hosts.find((h) => h.name === host)!, pki).find((f) => f.path === P.encryptionConfig)!.content;
    const config = parse(content('m1')) as { kind: string; resources: Array<{ resources: string[]; providers: Array<Record<string, { keys?: Array<{ name: string; secret: string }> }>> }> };
    const key = JSON.parse(pki.items.get('encryption')!.keyPem!) as { name: string; secret: string };
    expect(config.kind).toBe('EncryptionConfiguration');
    expect(config.resources).toEqual([{ resources: ['secrets'], providers: [{ secretbox: { keys: [{ name: 'key-20261207', secret: key.secret }] } }, { identity: {} }] }]);
    expect(Buffer.from(key.secret, 'base64')).toHaveLength(32);
    expect(content('m2')).toBe(content('m1'));
  });
});

describe('kubeconfigs on hosts', () => {
  const tmp = useTempDir();

  it('embed the CA, the client certificate and key, and point masters at their own API server, workers and admin at MASTER_IP', async () => {
    const spec = clusterFrom(tmp(), 'MASTER_IP=10.0.0.100\n', PKI_INVENTORY);
    const pki = await reconcilePki(spec, new PkiStore(join(tmp(), 'pki')), { now: new Date() });
    const conf = (host: string, path: string) => {
      const file = hostPkiContents(spec, spec.hosts.find((h) => h.name === host)!, pki).find((f) => f.path === path)!;
      return parse(file.content) as {
        clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
        users: Array<{ name: string; user: { 'client-certificate-data': string; 'client-key-data': string } }>;
        'current-context': string;
      };
    };
    const decode = (b64: string) => Buffer.from(b64, 'base64').toString();
    const servers = {
      admin: conf('m1', P.adminConf).clusters[0]!.cluster.server,
      scheduler: conf('m1', P.schedulerConf).clusters[0]!.cluster.server,
      masterKubelet: conf('m2', P.kubeletConf).clusters[0]!.cluster.server,
      workerKubelet: conf('w1', P.kubeletConf).clusters[0]!.cluster.server,
      workerProxy: conf('w1', P.kubeProxyConf).clusters[0]!.cluster.server,
    };
    expect(servers).toEqual({
      admin: 'https://10.0.0.100:6443',
      scheduler: 'https://127.0.0.1:6443',
      masterKubelet: 'https://127.0.0.1:6443',
      workerKubelet: 'https://10.0.0.100:6443',
      workerProxy: 'https://10.0.0.100:6443',
    });

    const kubelet = conf('w1', P.kubeletConf);
    expect(kubelet.users[0]!.name).toBe('system:node:w1');
    expect(kubelet['current-context']).toBe('system:node:w1@lab');
    expect(decode(kubelet.clusters[0]!.cluster['certificate-authority-data'])).toBe(pki.items.get('ca')!.certPem);
    expect(readCertificate(decode(kubelet.users[0]!.user['client-certificate-data']))!.subject).toBe('O=system:nodes, CN=system:node:w1');
    expect(decode(kubelet.users[0]!.user['client-key-data'])).toBe(pki.items.get('kubelet-client/w1')!.keyPem);
  });
});
