import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClusterSpec, HostSpec } from '../../src/config/cluster-spec.js';
import { factsScript, parseFacts } from '../../src/engine/facts.js';
import type { ClusterContext, ClusterHost } from '../../src/phases/context.js';
import type { FileResource } from '../../src/engine/resource.js';
import { debianAdapter } from '../../src/os/debian.js';
import { ANCHORS_FACT, pkiPhase } from '../../src/phases/pki.js';
import { hostPkiContents } from '../../src/pki/host-files.js';
import { PKI_PATHS } from '../../src/components/paths.js';
import { hostPkiFiles } from '../../src/pki/host-layout.js';
import { reconcilePki, type PreparedPki } from '../../src/pki/reconcile.js';
import { PkiStore } from '../../src/pki/store.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { shRun } from '../engine/support.js';
import { PKI_INVENTORY } from '../pki/support.js';

/**
 * The pki phase's own fact snippet runs for real on this machine, against a folder that stands for
 * a host's /etc/kubernetes; its preflight then judges what it read.
 */
function hostReading(spec: ClusterSpec, name: string, root: string, clockSkewMs = 0): ClusterHost {
  const snippets = { [ANCHORS_FACT.key]: (ANCHORS_FACT.snippet as string).replaceAll('/etc/kubernetes', root) };
  const facts = parseFacts(shRun(factsScript(snippets)).stdout);
  const extra = Object.fromEntries(Object.entries(facts.extra).map(([k, v]) => [k, v.replaceAll(root, '/etc/kubernetes')]));
  return { host: spec.hosts.find((h) => h.name === name)!, facts: { ...facts, extra, clockSkewMs }, os: { adapter: debianAdapter, arch: 'amd64', label: 'Debian 12 (apt)' }, files: [] };
}

/** Puts `content` where the host would hold `hostPath`, under the folder standing for /etc/kubernetes. */
function hold(root: string, hostPath: string, content: string): void {
  const path = join(root, hostPath.replace(/^\/etc\/kubernetes\//, ''));
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
}

describe('the pki phase', () => {
  const tmp = useTempDir();

  async function prepared(config = ''): Promise<{ spec: ClusterSpec; store: PkiStore; pki: PreparedPki }> {
    const spec = clusterFrom(tmp(), config, PKI_INVENTORY);
    const store = new PkiStore(join(tmp(), 'pki'));
    return { spec, store, pki: await reconcilePki(spec, store, { now: new Date() }) };
  }
  const ctx = (spec: ClusterSpec, hosts: ClusterHost[], mode: 'plan' | 'apply' = 'apply'): ClusterContext => ({ spec, mode, hosts });

  it('gives each host the files of its roles as secret resources, in 0755 folders', async () => {
    const { spec, store, pki } = await prepared();
    const phase = pkiPhase(pki, store.dir);
    const w1 = spec.hosts.find((h) => h.name === 'w1')!;
    const resources = phase.resources({ spec, host: w1, facts: parseFacts(''), os: {} as never, files: [] });
    const files = resources.filter((r): r is FileResource => r.kind === 'file');
    expect(files.map((f) => f.path)).toEqual(hostPkiFiles(spec, w1).map((f) => f.path));
    expect(files.every((f) => f.secret === true && f.owner === 'root' && f.group === 'root')).toBe(true);
    expect(files.find((f) => f.path === PKI_PATHS.kubeletKey)).toMatchObject({ mode: 0o600, restarts: ['kubelet'] });
    expect(String(files.find((f) => f.path === PKI_PATHS.kubeletKey)!.content)).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(resources.filter((r) => r.kind === 'directory')).toEqual(
      ['/etc/kubernetes', '/etc/kubernetes/pki', '/etc/kubernetes/pki/etcd'].map((path) => ({ kind: 'directory', path, mode: 0o755, owner: 'root', group: 'root' })),
    );
  });

  it("goes ahead on fresh hosts and on hosts that hold this PKI's CAs", async () => {
    const { spec, store, pki } = await prepared();
    const phase = pkiPhase(pki, store.dir);
    const fresh = join(tmp(), 'fresh');
    const same = join(tmp(), 'same');
    hold(same, PKI_PATHS.caCert, pki.items.get('ca')!.certPem!);
    hold(same, PKI_PATHS.etcdCaCert, pki.items.get('etcd-ca')!.certPem!);
    hold(same, PKI_PATHS.serviceAccountPub, pki.items.get('sa')!.publicPem!);
    expect(phase.preflight!(ctx(spec, [hostReading(spec, 'm1', fresh), hostReading(spec, 'm2', same), hostReading(spec, 'w1', fresh), hostReading(spec, 'e1', fresh)]))).toEqual([]);
  });

  it('refuses, before any change, when the local CA is gone but a host holds certificates from one', async () => {
    const { spec, store, pki: first } = await prepared();
    await first.persist();
    rmSync(store.pathOf('ca', 'certPem'));
    rmSync(store.pathOf('ca', 'keyPem'));
    const again = await reconcilePki(spec, store, { now: new Date() });
    const root = join(tmp(), 'm1');
    hold(root, PKI_PATHS.caCert, first.items.get('ca')!.certPem!);
    const problems = pkiPhase(again, store.dir).preflight!(
      ctx(
        spec,
        spec.hosts.map((h) => hostReading(spec, h.name, h.name === 'm1' ? root : join(tmp(), 'none'))),
      ),
    );
    expect(problems.map((p) => p.format())).toEqual([
      `m1 file:/etc/kubernetes/pki/ca.crt: holds /etc/kubernetes/pki/ca.crt, but the local PKI in ${store.dir} has no ca (this run would make a new one): going on would replace it\n` +
        `  fix: restore ${store.dir} from your backup (it must hold ca.crt and ca.key); if m1 belongs to no cluster of yours any more, remove its /etc/kubernetes/pki first`,
    ]);
  });

  it('refuses, before any change, to replace the encryption key of a master that has one when the local key is gone', async () => {
    const { spec, store, pki: first } = await prepared();
    await first.persist();
    rmSync(store.pathOf('encryption', 'keyPem'));
    const again = await reconcilePki(spec, store, { now: new Date() });
    const [config] = hostPkiContents(spec, spec.hosts.find((h) => h.name === 'm1')!, first, [
      hostPkiFiles(spec, spec.hosts.find((h) => h.name === 'm1')!).find((f) => f.path === PKI_PATHS.encryptionConfig)!,
    ]);
    const root = join(tmp(), 'm1');
    hold(root, PKI_PATHS.encryptionConfig, config!.content);
    const hosts = spec.hosts.map((h) => hostReading(spec, h.name, h.name === 'm1' ? root : join(tmp(), 'none')));
    expect(pkiPhase(again, store.dir).preflight!(ctx(spec, hosts)).map((p) => p.format())).toEqual([
      `m1 file:/etc/kubernetes/encryption-config.yaml: holds /etc/kubernetes/encryption-config.yaml, but the local PKI in ${store.dir} has no encryption.key (this run would make a new one): Secrets encrypted with the old key would become unreadable\n` +
        `  fix: restore ${store.dir} from your backup (it must hold encryption.key); nothing was changed`,
    ]);
    // With the key back in the store, the same host is fine.
    await store.writeAll([['encryption', first.items.get('encryption')!]]);
    const restored = await reconcilePki(spec, store, { now: new Date() });
    expect(pkiPhase(restored, store.dir).preflight!(ctx(spec, hosts))).toEqual([]);
  });

  it("refuses a host that trusts another CA or service-account key than this cluster's", async () => {
    const { spec, store, pki } = await prepared();
    await pki.persist();
    const other = await reconcilePki(spec, new PkiStore(join(tmp(), 'another-cluster')), { now: new Date() });
    const root = join(tmp(), 'w1');
    hold(root, PKI_PATHS.etcdCaCert, other.items.get('etcd-ca')!.certPem!);
    hold(root, PKI_PATHS.serviceAccountPub, other.items.get('sa')!.publicPem!);
    const kept = await reconcilePki(spec, store, { now: new Date() });
    expect(kept.issued).toEqual([]);
    const problems = pkiPhase(kept, store.dir).preflight!(ctx(spec, [hostReading(spec, 'w1', root)]));
    expect(problems.map((p) => p.message)).toEqual([
      `holds /etc/kubernetes/pki/etcd/ca.crt that is not the etcd-ca of the local PKI in ${store.dir}: going on would replace it`,
      `holds /etc/kubernetes/pki/sa.pub that is not the sa of the local PKI in ${store.dir}: going on would replace it`,
    ]);
  });

  it('refuses a host whose clock is off: certificates would not be valid there yet, or no more', async () => {
    const { spec, store, pki } = await prepared();
    const none = join(tmp(), 'none');
    const hosts = spec.hosts.map((h: HostSpec) => hostReading(spec, h.name, none, h.name === 'w1' ? -2 * 3600_000 : 0));
    const problems = pkiPhase(pki, store.dir).preflight!(ctx(spec, hosts));
    expect(problems.map((p) => p.where())).toEqual(['w1']);
    expect(problems[0]!.message).toMatch(/^its clock is 7200 s behind this machine's/);
  });

  it('keeps the PKI locally before the first change (beforeChanges), and only then', async () => {
    const { spec, store, pki } = await prepared();
    expect(store.read('ca')).toEqual({});
    await pkiPhase(pki, store.dir).beforeChanges!(ctx(spec, []));
    expect(store.read('ca').keyPem).toBe(pki.items.get('ca')!.keyPem);
  });
});
