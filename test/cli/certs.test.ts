import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCertificate } from '../../src/pki/certificate.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { localPkiStore } from '../../src/pki/store.js';
import { runCli } from '../support/cli.js';
import { expectFitsSchemaFile } from '../support/report-schemas.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { hostileCertificate, PKI_INVENTORY, UNSAFE } from '../pki/support.js';

describe('bootstrap certs renew', () => {
  const tmp = useTempDir();
  const args = () => ['-i', join(tmp(), 'inventory.yaml'), '-c', join(tmp(), 'config.properties')];

  async function withPki() {
    const spec = clusterFrom(tmp(), '', PKI_INVENTORY);
    const store = localPkiStore(spec);
    await (await reconcilePki(spec, store, { now: new Date() })).persist();
    return store;
  }

  it('asks which certificates: --all or --name, not both, not neither', async () => {
    await withPki();
    for (const extra of [[], ['--all', '--name', 'apiserver']]) {
      const run = await runCli(['certs', 'renew', ...args(), ...extra]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('error: say which certificates to renew\n  fix: give --all, or --name');
    }
  });

  it('never renews a CA, and names the certificates there are when given another name', async () => {
    await withPki();
    const ca = await runCli(['certs', 'renew', ...args(), '--name', 'etcd-ca']);
    expect([ca.code, ca.stderr]).toEqual([2, 'error: etcd-ca is a CA: kubestrap renews certificates, never CAs\n  fix: a CA lasts CA_VALIDITY_DAYS; rotating one means a new PKI for the cluster\n']);
    const unknown = await runCli(['certs', 'renew', ...args(), '--name', 'apiserver-cert']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('error: there is no certificate named apiserver-cert\n  fix: choose from: apiserver, apiserver-kubelet-client,');
    expect(unknown.stderr).toContain('kubelet[/<host>]');
  });

  it('refuses to renew without the local PKI, saying how to get it back', async () => {
    clusterFrom(tmp(), '', PKI_INVENTORY);
    const run = await runCli(['certs', 'renew', ...args(), '--all']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/there is no ca to renew certificates with\n {2}fix: restore .* from your backup, or run `bootstrap apply`/);
  });

  it('--output json: the certificates re-issued, as schemas/certs-renew.schema.json says', async () => {
    const store = await withPki();
    const run = await runCli(['certs', 'renew', ...args(), '--name', 'apiserver', 'kubelet', '--output', 'json']);
    expect(run.code, run.stderr).toBe(0);
    expectFitsSchemaFile('certs-renew', run.stdout);
    expect(JSON.parse(run.stdout)).toEqual({ ok: true, storeDir: store.dir, renewed: ['apiserver', 'kubelet/m2', 'kubelet/w1'] });
  });

  it('re-issues the named certificates and groups in the local PKI, and only those', async () => {
    const store = await withPki();
    const serial = (name: string) => readCertificate(store.read(name).certPem!)!.serialNumber;
    const before = { apiserver: serial('apiserver'), w1: serial('kubelet/w1'), m2: serial('kubelet/m2'), admin: serial('admin') };
    const run = await runCli(['certs', 'renew', ...args(), '--name', 'apiserver', 'kubelet']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('renewed 3 certificates');
    expect(run.stdout).toContain('apiserver, kubelet/m2, kubelet/w1');
    expect(serial('apiserver')).not.toBe(before.apiserver);
    expect(serial('kubelet/w1')).not.toBe(before.w1);
    expect(serial('kubelet/m2')).not.toBe(before.m2);
    expect(serial('admin')).toBe(before.admin);
  });
});

describe('bootstrap certs check', () => {
  const tmp = useTempDir();
  // Hosts on this machine's closed port: each fails at once, and its error is shown too.
  const inventory = `cluster: lab
ssh: { user: root, port: 9 }
hosts:
  - { name: m1, address: 127.0.0.1, roles: [etcd, master, worker] }
`;
  const args = () => ['-i', join(tmp(), 'inventory.yaml'), '-c', join(tmp(), 'config.properties'), '--connect-timeout', '5'];

  async function withHostilePki() {
    const spec = clusterFrom(tmp(), '', inventory);
    const store = localPkiStore(spec);
    await (await reconcilePki(spec, store, { now: new Date() })).persist();
    writeFileSync(store.pathOf('apiserver', 'certPem'), await hostileCertificate());
  }

  /** Every string value of a JSON document, joined: what a consumer of the JSON would show. */
  const jsonStrings = (json: string) => {
    const strings: string[] = [];
    JSON.parse(json, (_k, v: unknown) => (typeof v === 'string' && strings.push(v), v));
    return strings.join('\n');
  };

  it("shows a certificate's subject, issuer and SANs with every control and bidi character escaped, in text and JSON", async () => {
    await withHostilePki();
    const text = await runCli(['certs', 'check', ...args()]);
    const json = await runCli(['certs', 'check', ...args(), '--output', 'json']);
    expect(text.code).toBe(1);
    expect(json.code).toBe(1);
    expect(json.stdout).not.toMatch(UNSAFE);
    for (const out of [text.stdout, jsonStrings(json.stdout)]) {
      expect(out).not.toMatch(UNSAFE);
      expect(out).toContain('dns\\x1b[2J\\x1b[H\\x0dall certificates valid');
      expect(out).toContain('CN=cn\\1B[2J\\1B[H\\0Dall certificates valid for more than 30 days and in place\\u202e\\x9b31m');
      expect(out).toContain('CN=ca\\1B[2J\\1B[H\\0Dall certificates valid for more than 30 days and in place\\u202e\\x9b31m');
    }
    // The verdict is the command's own: no certificate can put a line of its own in the table.
    expect(text.stdout).toContain('31m\\x0aall certificates valid');
    expect(text.stdout.split('\n').filter((l) => l.startsWith('all certificates valid'))).toEqual([]);
    expect(text.stdout).toMatch(/\n\d+ problems?: /);
  });
});
