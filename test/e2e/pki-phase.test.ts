import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { loadClusterSpec, type ClusterSpec } from '../../src/config/cluster-spec.js';
import { HOST_PATHS } from '../../src/components/paths.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { pkiCatalog } from '../../src/pki/catalog.js';
import { readCertificate } from '../../src/pki/certificate.js';
import { CA_CERT_PATHS, hostPkiFiles } from '../../src/pki/host-layout.js';
import { PKI_PATHS } from '../../src/components/paths.js';
import { localPkiStore } from '../../src/pki/store.js';
import { hostValues } from '../../src/phases/index.js';
import { renderCluster } from '../../src/render/render-cluster.js';
import { bundleFile } from './support/bundle.js';
import { useLabCluster } from './support/cluster.js';
import { copyToHost } from './support/copy.js';
import { labAvailable, useLabHosts } from './support/hosts.js';
import { makeTestPki } from './support/pki.js';
import { shq } from '../../src/ssh/quote.js';

/**
 * The pki phase on three lab hosts (h0: etcd+master, h1: etcd+master+worker, h2: worker): what each
 * host holds, checked with OpenSSL on the host; real etcd 3.4 and the API server stand-in serving
 * with those files; renewal rolled out; a lost local CA refused before any change.
 */
describe.skipIf(!labAvailable())('the pki phase on lab hosts', () => {
  // firewalld off: etcd's and the API server's ports are reached across hosts here.
  const hosts = useLabHosts(3, { firewalld: false, prefix: 'pki' });
  const cluster = useLabCluster(hosts, {
    // Read when the inventory is written (beforeAll), once the hosts have names.
    get roles() {
      const [h0, h1, h2] = hosts.all();
      return { [h0!.name]: ['etcd', 'master'], [h1!.name]: ['etcd', 'master', 'worker'], [h2!.name]: ['worker'] };
    },
  });
  const spec = (): ClusterSpec => loadClusterSpec({ inventoryFile: cluster.inventory, configFile: cluster.config });
  const hostIndex = (name: string) => hosts.all().findIndex((h) => h.name === name);
  const sha = (i: number, path: string) => hosts.run(i, `sha256sum < ${path} | cut -d' ' -f1`);
  const newestLog = () => {
    const dir = join(spec().stateDir, 'logs');
    return readFileSync(join(dir, readdirSync(dir).sort().at(-1)!), 'utf8');
  };

  it('plans every file without showing key material, and keeps nothing locally until an apply', async () => {
    const text = await cluster.cli(['plan', '--phase', 'pki']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toContain('pki: apply would issue:');
    expect(text.stdout).toContain(`+ create ${PKI_PATHS.apiserverKey} (0600 root:root`);
    expect(text.stdout).toContain('(content hidden: secret)');
    const json = await cluster.json('plan', ['--phase', 'pki']);
    for (const out of [text.stdout, text.stderr, json.run.stdout, newestLog()]) {
      expect(out).not.toContain('PRIVATE KEY');
      expect(out).not.toContain('LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t'); // base64 of "-----BEGIN PRIVATE KEY-----", as kubeconfigs embed it
    }
    expect(existsSync(localPkiStore(spec()).dir)).toBe(false);
  });

  it('gives each host exactly the files its roles need, with their modes and owners', async () => {
    const { run, report } = await cluster.json('apply', ['--phase', 'pki']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(report.hosts.map((h) => h.status)).toEqual(['changed', 'changed', 'changed']);
    const s = spec();
    for (const host of s.hosts) {
      const i = hostIndex(host.name);
      const listed = await hosts.run(i, "find /etc/kubernetes -type f -printf '%m %u %g %p\\n' | sort -k4");
      const expected = hostPkiFiles(s, host)
        .map((f) => `${f.mode.toString(8)} root root ${f.path}`)
        .sort((a, b) => (a.split(' ')[3]! < b.split(' ')[3]! ? -1 : 1));
      expect(listed.trim().split('\n')).toEqual(expected);
      expect(await hosts.run(i, "stat -c '%a %U %G' /etc/kubernetes /etc/kubernetes/pki /etc/kubernetes/pki/etcd")).toBe('755 root root\n'.repeat(3));
    }
    // A worker holds no CA key, no etcd member keys, no service-account key.
    const worker = await hosts.run(2, 'ls /etc/kubernetes/pki /etc/kubernetes/pki/etcd');
    for (const never of ['ca.key', 'sa.key', 'peer.key', 'server.key', 'apiserver.key']) expect(worker).not.toMatch(new RegExp(`^${never.replace('.', '\\.')}$`, 'm'));
  });

  it('leaves no key material in the apply report or its debug log', async () => {
    // The last apply distributed every key; its log is the newest.
    const log = newestLog();
    expect(log).toContain('"event":"phase","phase":"pki"');
    expect(log).not.toContain('PRIVATE KEY');
    expect(log).not.toContain('LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t');
  });

  it('installs certificates that OpenSSL on the host verifies and reads as the catalog says', async () => {
    const s = spec();
    const catalog = pkiCatalog(s);
    for (const host of s.hosts) {
      const i = hostIndex(host.name);
      for (const f of hostPkiFiles(s, host)) {
        if (f.content.kind === 'key' || f.content.kind === 'public-key') {
          const pub = f.content.kind === 'public-key' ? '-pubin ' : '';
          expect(await hosts.run(i, `openssl pkey ${pub}-in ${f.path} -noout && echo key-ok`), f.path).toBe('key-ok\n');
          continue;
        }
        const leaf = catalog.leaves.find((l) => l.name === f.content.name);
        if (!leaf) continue; // a CA certificate: checked through the leaves it verifies
        const certFile = f.content.kind === 'kubeconfig' ? `/tmp/${leaf.name.replace('/', '-')}.crt` : f.path;
        if (f.content.kind === 'kubeconfig') {
          // The kubeconfig's own CA and client certificate, decoded on the host.
          await hosts.run(
            i,
            `sed -n 's/^ *client-certificate-data: *//p' ${f.path} | base64 -d > ${certFile}; sed -n 's/^ *certificate-authority-data: *//p' ${f.path} | base64 -d > /tmp/kubeconfig-ca.crt; cmp /tmp/kubeconfig-ca.crt ${PKI_PATHS.caCert}`,
          );
        }
        const purpose = leaf.profile.usages.includes('serverAuth') ? 'sslserver' : 'sslclient';
        const verified = await hosts.run(i, `openssl verify -x509_strict -purpose ${purpose} -CAfile ${CA_CERT_PATHS[leaf.ca]} ${certFile}`);
        expect(verified, `${host.name} ${f.path}`).toBe(`${certFile}: OK\n`);
        const text = await hosts.run(i, `openssl x509 -in ${certFile} -noout -text`);
        const want = leaf.profile;
        expect(text, f.path).toMatch(new RegExp(`Subject: ${[...want.organizations.map((o) => `O ?= ?${o}`), `CN ?= ?${want.commonName}`].join(', ')}\\n`));
        for (const dns of want.dnsNames) expect(text, f.path).toContain(`DNS:${dns}`);
        for (const ip of want.ipAddresses) expect(text, f.path).toContain(`IP Address:${ip}`);
        expect(text).toMatch(/Public Key Algorithm: id-ecPublicKey/);
        expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
      }
    }
  });

  it('changes nothing on a second apply, and a plan after it costs two commands per host', async () => {
    const apply = await cluster.json('apply', ['--phase', 'pki']);
    expect(apply.run.code).toBe(0);
    expect(apply.run.stderr).not.toContain('pki: this apply issues');
    expect(apply.report.results.map((r) => [r.host, r.status, r.changes.length, r.restarts.length])).toEqual(hosts.all().map((h) => [h.name, 'ok', 0, 0]));
    const plan = await cluster.json('plan', ['--phase', 'pki']);
    expect(plan.report.results.every((r) => r.status === 'ok' && r.changes.length === 0)).toBe(true);
    expect(plan.report.hosts.map((h) => h.roundTrips)).toEqual(hosts.all().map(() => ({ handshakes: 1, execs: 2, sftpOps: 0 })));
  });

  it('certs check finds every certificate in place, locally and on each host', async () => {
    const run = await cluster.cli(['certs', 'check', '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      local: Array<{ name: string; daysLeft: number }>;
      hosts: Array<{ host: string; files: Array<{ path: string; matchesLocal: boolean; subject?: string }> }>;
    };
    expect(report.ok).toBe(true);
    expect(report.local.find((r) => r.name === 'apiserver')!.daysLeft).toBe(364);
    expect(report.hosts.map((h) => h.files.every((f) => f.matchesLocal))).toEqual([true, true, true]);
    expect(report.hosts[2]!.files.find((f) => f.path === PKI_PATHS.kubeletConf)!.subject).toBe(`O=system:nodes, CN=system:node:${hosts.host(2).name}`);
    const strict = await cluster.cli(['certs', 'check', '--days', '400']);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain('expires in 364 days');
  });

  it('lets real etcd serve its members and good clients with these files, and refuses clients without one or from another CA', async () => {
    const bundleDir = inject('bundleDir');
    if (!bundleDir) throw new Error('global setup provided no bundle');
    const etcdVersion = bundleFile(bundleDir, 'etcd').version;
    cluster.setProperty('ETCD_VERSION', etcdVersion);
    const s = spec();
    const members = [0, 1];
    for (const i of [0, 1, 2]) {
      await copyToHost(hosts.lab, hosts.host(i), bundleFile(bundleDir, 'etcdctl').file, '/usr/local/bin/etcdctl', '0755');
    }
    for (const i of members) {
      await hosts.run(i, 'mkdir -p /opt/kube/bin /var/lib/etcd');
      await copyToHost(hosts.lab, hosts.host(i), bundleFile(bundleDir, 'etcd').file, '/opt/kube/bin/etcd', '0755');
      // The product's own unit: it reads the certificates where the pki phase put them.
      const unit = renderedFile(s, hosts.host(i).name, '/etc/systemd/system/etcd.service');
      writeFileSync(join(cluster.dir, 'etcd.service'), unit);
      await copyToHost(hosts.lab, hosts.host(i), join(cluster.dir, 'etcd.service'), '/etc/systemd/system/etcd.service');
      // What the etcd phase's join step writes for the founding members: the unit reads the member list from it.
      await hosts.run(i, `printf 'ETCD_INITIAL_CLUSTER=%s\\nETCD_INITIAL_CLUSTER_STATE=new\\n' ${shq(s.values.ETCD_INITIAL_CLUSTER!)} > ${HOST_PATHS.etcdInitialClusterEnv}`);
      await hosts.run(i, 'systemctl daemon-reload');
    }
    // Type=notify: each member waits for quorum, so both start together (over peer TLS, with the peer certificates).
    await Promise.all(members.map((i) => hosts.run(i, 'systemctl start etcd || { journalctl -u etcd --no-pager | tail -30; exit 1; }')));

    const endpoints = members.map((i) => `https://${hosts.host(i).address}:2379`).join(',');
    const etcdctl = (cert?: string, key?: string) =>
      `ETCDCTL_API=3 etcdctl --endpoints=${endpoints} --dial-timeout=3s --command-timeout=5s --cacert=${PKI_PATHS.etcdCaCert}${cert ? ` --cert=${cert} --key=${key}` : ''}`;
    const health = await hosts.run(0, `${etcdctl(PKI_PATHS.etcdHealthcheckClientCert, PKI_PATHS.etcdHealthcheckClientKey)} endpoint health 2>&1`);
    for (const i of members) expect(health).toContain(`https://${hosts.host(i).address}:2379 is healthy`);
    await hosts.run(0, `${etcdctl(PKI_PATHS.apiserverEtcdClientCert, PKI_PATHS.apiserverEtcdClientKey)} put /registry/pki-test from-the-apiserver-client`);
    // Any certificate of the etcd CA is accepted, a worker's flannel certificate included: etcd's roles, which limit
    // what each may read, come with the etcd phase (test/e2e/etcd-access.test.ts), not with the certificates.
    expect(await hosts.run(2, `${etcdctl(PKI_PATHS.etcdFlannelClientCert, PKI_PATHS.etcdFlannelClientKey)} get --print-value-only /registry/pki-test`)).toBe('from-the-apiserver-client\n');

    const anonymous = await hosts.exec(0, `${etcdctl()} get /registry/pki-test 2>&1`);
    expect(anonymous.code).not.toBe(0);
    const other = makeTestPki(hosts.host(0).address, 'intruder');
    try {
      await copyToHost(hosts.lab, hosts.host(0), other.clientCert, '/tmp/other.crt');
      await copyToHost(hosts.lab, hosts.host(0), other.clientKey, '/tmp/other.key', '0600');
    } finally {
      rmSync(other.dir, { recursive: true, force: true });
    }
    const foreign = await hosts.exec(0, `${etcdctl('/tmp/other.crt', '/tmp/other.key')} get /registry/pki-test 2>&1`);
    expect(foreign.code).not.toBe(0);
    // A certificate of the cluster's Kubernetes CA is foreign to etcd too: separate CAs.
    const wrongCa = await hosts.exec(0, `${etcdctl(PKI_PATHS.apiserverKubeletClientCert, PKI_PATHS.apiserverKubeletClientKey)} get /registry/pki-test 2>&1`);
    expect(wrongCa.code).not.toBe(0);
    const serverLog = await hosts.run(0, 'journalctl -u etcd --no-pager');
    expect(serverLog).toMatch(/bad certificate|certificate signed by unknown authority|tls: client didn't provide a certificate/);
  });

  it('lets the API server stand-in serve with its certificate, verified by IP and by every DNS name in it', async () => {
    const bundleDir = inject('bundleDir');
    if (!bundleDir) throw new Error('global setup provided no bundle');
    const s = spec();
    // The product's ExecStart (every path from the pki phase), in a simple unit: the stand-in does not notify systemd.
    const unit = renderedFile(s, hosts.host(0).name, '/etc/systemd/system/kube-apiserver.service');
    const execStart = /^ExecStart=[\s\S]*?[^\\]\n/m.exec(unit)![0];
    writeFileSync(join(cluster.dir, 'kube-apiserver.service'), `[Unit]\nDescription=API server stand-in with the product's flags\n[Service]\n${execStart}`);
    await copyToHost(hosts.lab, hosts.host(0), bundleFile(bundleDir, 'kube-apiserver').file, '/opt/kube/bin/kube-apiserver', '0755');
    await copyToHost(hosts.lab, hosts.host(0), join(cluster.dir, 'kube-apiserver.service'), '/etc/systemd/system/kube-apiserver.service');
    // The audit policy is a rendered file (the control-plane phase installs it), not the pki phase's.
    writeFileSync(join(cluster.dir, 'audit-policy.yaml'), renderedFile(s, hosts.host(0).name, HOST_PATHS.auditPolicyFile));
    await copyToHost(hosts.lab, hosts.host(0), join(cluster.dir, 'audit-policy.yaml'), HOST_PATHS.auditPolicyFile);
    await hosts.run(0, 'mkdir -p /var/log/kubernetes && systemctl daemon-reload && systemctl start kube-apiserver');
    const ip = hosts.host(0).address;
    await hosts
      .run(2, `for i in $(seq 150); do curl -sf --max-time 1 --cacert ${PKI_PATHS.caCert} -o /dev/null https://${ip}:6443/healthz && exit 0; sleep 0.2; done; exit 1`)
      .catch(async (e: unknown) => {
        throw new Error(`${String(e)}\n${(await hosts.exec(0, 'journalctl -u kube-apiserver --no-pager | tail -20')).stdout}`);
      });

    const curl = (i: number, url: string, extra = '') => hosts.exec(i, `curl -sS --max-time 5 --cacert ${PKI_PATHS.caCert} ${extra} ${url}`);
    expect((await curl(2, `https://${ip}:6443/healthz`)).stdout).toBe('ok');
    expect((await curl(0, 'https://127.0.0.1:6443/healthz')).stdout).toBe('ok');
    const apiserver = readCertificate(localPkiStore(s).read('apiserver').certPem!)!;
    for (const name of apiserver.dnsNames) {
      const r = await curl(2, `https://${name}:6443/healthz`, `--resolve ${name}:6443:${ip}`);
      expect([name, r.stdout]).toEqual([name, 'ok']);
    }
    // Addresses no test host can route to (the Service IP) are checked the way a TLS client checks them.
    const verifyIp = (address: string) => hosts.exec(0, `openssl verify -purpose sslserver -verify_ip ${address} -CAfile ${PKI_PATHS.caCert} ${PKI_PATHS.apiserverCert} 2>&1`);
    for (const address of apiserver.ipAddresses) expect([address, (await verifyIp(address)).code]).toEqual([address, 0]);
    expect((await verifyIp('10.99.99.99')).code).not.toBe(0);
    const unnamed = await curl(2, 'https://not-in-the-certificate.example:6443/healthz', `--resolve not-in-the-certificate.example:6443:${ip}`);
    expect(unnamed.code).toBe(60);
    // The admin kubeconfig's client certificate is accepted by the API server's client CA.
    await hosts.run(
      0,
      `sed -n 's/^ *client-certificate-data: *//p' ${PKI_PATHS.adminConf} | base64 -d > /tmp/admin.crt; sed -n 's/^ *client-key-data: *//p' ${PKI_PATHS.adminConf} | base64 -d > /tmp/admin.key`,
    );
    expect((await curl(0, `https://${ip}:6443/api`, '-o /dev/null -w %{http_code} --cert /tmp/admin.crt --key /tmp/admin.key')).stdout).not.toBe('403');
    expect((await curl(0, `https://${ip}:6443/api`, '-o /dev/null -w %{http_code}')).stdout).toBe('403');
  });

  it('renews a certificate locally and rolls it to every host that holds it, restarting only its readers', async () => {
    const before = await Promise.all([0, 1].map((i) => sha(i, PKI_PATHS.apiserverCert)));
    const renew = await cluster.cli(['certs', 'renew', '--name', 'apiserver']);
    expect(renew.code, renew.stderr).toBe(0);
    expect(renew.stdout).toContain('renewed 1 certificate');
    const check = await cluster.cli(['certs', 'check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('differs from the local PKI');

    const { run, report } = await cluster.json('apply', ['--phase', 'pki']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const changed = report.results.filter((r) => r.changes.length).map((r) => [r.host, r.changes.map((c) => c.resource).sort()]);
    expect(changed).toEqual([0, 1].map((i) => [hosts.host(i).name, [`file:${PKI_PATHS.apiserverCert}`, `file:${PKI_PATHS.apiserverKey}`]]));
    expect(report.results.flatMap((r) => r.restarts.map((x) => [r.host, x.service]))).toEqual([0, 1].map((i) => [hosts.host(i).name, 'kube-apiserver']));
    const after = await Promise.all([0, 1].map((i) => sha(i, PKI_PATHS.apiserverCert)));
    expect(after[0]).toBe(after[1]);
    expect(after[0]).not.toBe(before[0]);
    // The running API server now serves the new certificate.
    const ip = hosts.host(0).address;
    const serving = await hosts.run(
      2,
      `for i in $(seq 50); do s=$(echo | openssl s_client -connect ${ip}:6443 2>/dev/null | openssl x509 -noout -fingerprint -sha256) && [ -n "$s" ] && echo "$s" && exit 0; sleep 0.2; done; exit 1`,
    );
    const local = readCertificate(localPkiStore(spec()).read('apiserver').certPem!)!;
    expect(serving.trim().split('=')[1]!.replace(/:/g, '').toLowerCase()).toBe(local.fingerprint);
    expect((await cluster.cli(['certs', 'check'])).code).toBe(0);
  });

  it('refuses before any change when the local CA is gone but the hosts hold one, and says how to restore it', async () => {
    const store = localPkiStore(spec());
    const backup = `${store.dir}.backup`;
    renameSync(store.dir, backup);
    try {
      const before = await sha(2, PKI_PATHS.caCert);
      const { run, report } = await cluster.json('apply', ['--phase', 'pki']);
      expect(run.code).toBe(2);
      expect(report.results).toEqual([]);
      const text = await cluster.cli(['apply', '--phase', 'pki']);
      expect(text.stdout).toContain('Refused before any change on any host');
      expect(text.stdout).toContain(`restore ${store.dir} from your backup`);
      expect(await sha(2, PKI_PATHS.caCert)).toBe(before);
      expect(existsSync(store.pathOf('ca', 'certPem'))).toBe(false);
    } finally {
      rmSync(store.dir, { recursive: true, force: true });
      renameSync(backup, store.dir);
    }
    const again = await cluster.json('apply', ['--phase', 'pki']);
    expect(again.run.code).toBe(0);
    expect(again.report.results.every((r) => r.changes.length === 0)).toBe(true);
  });
});

/** A file as the product renders it for a host (host values as a host without facts gets them). */
function renderedFile(spec: ClusterSpec, host: string, path: string): string {
  const { hosts, problems } = renderCluster(spec, BUNDLED_UNITS, (h) => hostValues(h, undefined));
  const file = hosts.find((r) => r.host.name === host)?.files.find((f) => f.path === path);
  if (!file) throw new Error(`no ${path} rendered for ${host}: ${problems.map((p) => p.message).join('; ')}`);
  return file.content;
}
