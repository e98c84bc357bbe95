import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { bundleFile } from './support/bundle.js';
import { useLabHosts, type LabHosts } from './support/hosts.js';
import { makeTestPki, type TestPki } from './support/pki.js';

/** Copies a local file into host i (base64 through hostExec: no ssh or scp needed). */
async function putFile(hosts: LabHosts, i: number, local: string, remote: string, mode = '0644'): Promise<void> {
  const b64 = fs.readFileSync(local).toString('base64');
  await hosts.run(i, `mkdir -p ${path.dirname(remote)} && echo '${b64}' | base64 -d > ${remote} && chmod ${mode} ${remote}`);
}

function get(url: string, pki: TestPki, withClientCert: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        ca: fs.readFileSync(pki.caCert),
        ...(withClientCert ? { cert: fs.readFileSync(pki.clientCert), key: fs.readFileSync(pki.clientKey) } : {}),
        timeout: 5_000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`timeout on ${url}`)));
  });
}

const apiserverUnit = (name: string, flags: string[]): string => `[Unit]
Description=${name} (lab stand-in)
[Service]
ExecStart=/usr/local/bin/kube-apiserver ${flags.join(' ')}
[Install]
WantedBy=multi-user.target
`;

describe.skipIf(!inject('lab'))('the kube-apiserver stand-in on a lab host', () => {
  // firewalld off: this file tests the stand-in, not the firewall trap.
  const hosts = useLabHosts(1, { firewalld: false, prefix: 'api' });
  let pki: TestPki | undefined;
  afterAll(() => {
    if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  it('serves /healthz over TLS with the given cert and accepts a client cert from its CA', async () => {
    const bundleDir = inject('bundleDir');
    if (!bundleDir) throw new Error('global setup provided no bundle');
    const h = hosts.host(0);
    pki = makeTestPki(h.address);
    const apiserver = bundleFile(bundleDir, 'kube-apiserver');
    await putFile(hosts, 0, apiserver.file, '/usr/local/bin/kube-apiserver', '0755');
    await putFile(hosts, 0, pki.caCert, '/etc/kubernetes/pki/ca.crt');
    await putFile(hosts, 0, pki.serverCert, '/etc/kubernetes/pki/apiserver.crt');
    await putFile(hosts, 0, pki.serverKey, '/etc/kubernetes/pki/apiserver.key', '0600');
    const flags = [
      `--bind-address=${h.address}`, '--secure-port=6443',
      '--tls-cert-file=/etc/kubernetes/pki/apiserver.crt', '--tls-private-key-file=/etc/kubernetes/pki/apiserver.key',
      '--client-ca-file=/etc/kubernetes/pki/ca.crt',
    ];
    await hosts.run(0, `cat > /etc/systemd/system/kube-apiserver.service <<'UNIT'\n${apiserverUnit('kube-apiserver', flags)}UNIT\nsystemctl daemon-reload && systemctl enable --now kube-apiserver`);
    expect(await hosts.run(0, '/usr/local/bin/kube-apiserver --version')).toBe(`Kubernetes ${apiserver.version}\n`);

    const url = `https://${h.address}:6443`;
    await hosts.run(0, `for i in $(seq 50); do curl -sk --max-time 1 -o /dev/null https://${h.address}:6443/healthz && exit 0; sleep 0.1; done; exit 1`).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\n${(await hosts.exec(0, 'journalctl -u kube-apiserver --no-pager | tail -20')).stdout}`);
    });
    expect(await get(`${url}/healthz`, pki, false)).toEqual({ status: 200, body: 'ok' });
    expect(await get(`${url}/healthz`, pki, true)).toEqual({ status: 200, body: 'ok' });
    // Authenticated vs anonymous is visible beyond health: the client cert is accepted and verified.
    expect((await get(`${url}/api`, pki, false)).status).toBe(403);
    expect((await get(`${url}/api`, pki, true)).status).toBe(404);
  });

  it('fails to start with a flag upstream removed, saying so in the journal', async () => {
    const flags = ['--insecure-port=8080', '--tls-cert-file=/etc/kubernetes/pki/apiserver.crt', '--tls-private-key-file=/etc/kubernetes/pki/apiserver.key'];
    await hosts.run(0, `cat > /etc/systemd/system/kube-apiserver-old.service <<'UNIT'\n${apiserverUnit('kube-apiserver-old', flags)}UNIT\nsystemctl daemon-reload && systemctl start kube-apiserver-old; true`);
    const state = await hosts.run(0, 'for i in $(seq 50); do systemctl is-failed -q kube-apiserver-old && break; sleep 0.1; done; systemctl is-failed kube-apiserver-old; true');
    expect(state.trim()).toBe('failed');
    const journal = await hosts.run(0, 'journalctl -u kube-apiserver-old --no-pager');
    expect(journal).toContain('Error: unknown flag: --insecure-port');
  });
});
