import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { resetProxySettings } from '../../src/artifacts/download.js';
import { loadManifest, MANIFEST_FILE } from '../../src/artifacts/manifest.js';
import { startProxy, startArtifactServer } from '../support/artifact-server.js';
import { bundleFile } from './support/bundle.js';
import { useLabCluster, type JsonReport } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

const BIN = '/opt/kube/bin';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Every host's sha256sum, wrapped to log the file it reads (stdin is the file the probe hashes). */
const SHA_WRAPPER = `if [ ! -e /usr/bin/sha256sum.real ]; then mv /usr/bin/sha256sum /usr/bin/sha256sum.real; fi
cat > /usr/bin/sha256sum <<'EOF'
#!/bin/sh
echo "$(readlink /proc/$$/fd/0) $*" >> /var/log/sha256sum-calls
exec /usr/bin/sha256sum.real "$@"
EOF
chmod 0755 /usr/bin/sha256sum; : > /var/log/sha256sum-calls`;

/** The binaries a run changed on a host (their folders and the host record's entry, which change with them, left out). */
function changesOf(report: JsonReport, host: string): string[] {
  return report.results.filter((r) => r.host === host && r.phase === 'artifacts').flatMap((r) => r.changes.map((c) => c.resource).filter((id) => id.startsWith('file:')));
}

describe.skipIf(!labAvailable())('the artifacts phase on lab hosts', () => {
  const hosts = useLabHosts(2, { prefix: 'art' });
  const cluster = useLabCluster(hosts);
  const bundle = () => inject('bundleDir')!;
  const master = () => hosts.host(0).name;
  const worker = () => hosts.host(1).name;
  const entry = (component: string) => loadManifest(join(bundle(), MANIFEST_FILE)).manifest.artifacts.find((a) => a.component === component);
  const expected = (component: string) => entry(component)!.sha256;
  const hasEntry = (component: string) => entry(component) !== undefined;

  it("installs every role's binaries into BIN_PATH (CNI plugins into /opt/cni/bin), 0755, with the bundle's checksums", async () => {
    const { run, report } = await cluster.json('apply', ['--phase', 'artifacts']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    // 7 or 8 binaries for one, 9 for the other, in the same number of commands: facts, probe, and
    // one that carries every file with the scripts around them (the restarts owed and done).
    expect(report.hosts.map((h) => h.roundTrips?.execs)).toEqual([3, 3]);
    // etcdutl came with etcd 3.5: the master gets it where the bundle's etcd has it.
    const etcdTools = ['etcd', 'etcdctl', ...(hasEntry('etcdutl') ? ['etcdutl'] : [])];
    expect(changesOf(report, master()).sort()).toEqual([...etcdTools, 'flanneld', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'].map((b) => `file:${BIN}/${b}`).sort());
    expect(changesOf(report, worker())).toEqual([
      ...['kubelet', 'kube-proxy', 'kubectl', 'flanneld'].map((b) => `file:${BIN}/${b}`),
      ...['flannel', 'bridge', 'host-local', 'loopback', 'portmap'].map((b) => `file:/opt/cni/bin/${b}`),
    ]);
    const installed = await hosts.run(0, `cd ${BIN} && for f in etcd etcdctl kube-apiserver kubectl; do echo "$f $(stat -c '%a %U:%G' $f) $(sha256sum.real < $f 2>/dev/null || sha256sum < $f)"; done`);
    for (const line of installed.trim().split('\n')) {
      const [name, mode, owner, sha] = line.split(/\s+/);
      expect([mode, owner, sha]).toEqual(['755', 'root:root', expected(name!)]);
    }
    expect((await hosts.run(1, `stat -c '%a' /opt/cni/bin/portmap; ${BIN}/kubelet --version`)).trim().split('\n')).toEqual(['755', `Kubernetes ${bundleFile(bundle(), 'kubelet').version}`]);
    const record = (await hosts.run(1, 'cat /var/lib/kubestrap/installed.jsonl'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; sha256: string; version: string });
    expect(record.find((r) => r.id === `file:${BIN}/kubelet`)).toMatchObject({ sha256: expected('kubelet'), version: bundleFile(bundle(), 'kubelet').version });
  });

  it('sends 0 bytes and hashes no binary on the second run', async () => {
    for (const i of [0, 1]) await hosts.run(i, SHA_WRAPPER);
    const { run, report } = await cluster.json('apply', ['--phase', 'artifacts']);
    expect(run.code).toBe(0);
    expect(report.results.map((r) => [r.host, r.status, r.changes.length])).toEqual([
      [master(), 'ok', 0],
      [worker(), 'ok', 0],
    ]);
    expect(report.hosts.map((h) => h.roundTrips?.streamedBytes ?? 0)).toEqual([0, 0]);
    for (const i of [0, 1]) expect(await hosts.run(i, 'cat /var/log/sha256sum-calls')).not.toMatch(/\/opt\/(kube|cni)\//);
  });

  it('re-sends only the one binary that changed', async () => {
    // The user's own build of the kubelet: a manifest whose one entry replaces the bundle's.
    const dir = cluster.dir;
    const kubelet = bundleFile(bundle(), 'kubelet');
    const patched = `${readFileSync(kubelet.file, 'utf8')}\n# patched build\n`;
    writeFileSync(join(dir, 'kubelet-patched'), patched);
    writeFileSync(join(dir, 'own.json'), JSON.stringify({ artifacts: [{ component: 'kubelet', version: kubelet.version, arch: 'amd64', file: 'kubelet-patched', sha256: sha256(patched) }] }));
    const { run, report } = await cluster.json('apply', ['--phase', 'artifacts', '--artifacts-manifest', join(dir, 'own.json')]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(changesOf(report, master())).toEqual([]);
    expect(changesOf(report, worker())).toEqual([`file:${BIN}/kubelet`]);
    expect(report.hosts.map((h) => (h.roundTrips?.streamedBytes ?? 0) > 0)).toEqual([false, true]);
    expect((await hosts.run(1, `sha256sum.real < ${BIN}/kubelet`)).split(' ')[0]).toBe(sha256(patched));
    // And back to the bundle's kubelet.
    expect(changesOf((await cluster.json('apply', ['--phase', 'artifacts'])).report, worker())).toEqual([`file:${BIN}/kubelet`]);
  });

  it("finds a binary changed behind the record's back only with --verify-binaries, and repairs it", async () => {
    // Same size, new content, and a record that vouches for it (as a change below the file system would leave it).
    await hosts.run(
      0,
      [
        `printf 'X' | dd of=${BIN}/etcdctl bs=1 seek=100 conv=notrunc status=none`,
        `stamp=$(stat -c '"size":%s,"mtime":"%y","ctime":"%z"}' ${BIN}/etcdctl)`,
        `sed -i "s#^\\({\\"id\\":\\"file:${BIN}/etcdctl\\".*\\)\\"size\\".*#\\1$stamp#" /var/lib/kubestrap/installed.jsonl`,
        ': > /var/log/sha256sum-calls',
      ].join('\n'),
    );
    expect(changesOf((await cluster.json('plan', ['--phase', 'artifacts'])).report, master())).toEqual([]);
    const verify = await cluster.json('plan', ['--phase', 'artifacts', '--verify-binaries']);
    expect(changesOf(verify.report, master())).toEqual([`file:${BIN}/etcdctl`]);
    expect(verify.report.results.find((r) => r.host === master())!.changes[0]!.summary).toContain('its content differs from the expected checksum');
    expect(await hosts.run(0, 'cat /var/log/sha256sum-calls')).toContain(`${BIN}/kube-apiserver`);
    const fixed = await cluster.json('apply', ['--phase', 'artifacts', '--verify-binaries']);
    expect(changesOf(fixed.report, master())).toEqual([`file:${BIN}/etcdctl`]);
    expect((await hosts.run(0, `sha256sum.real < ${BIN}/etcdctl`)).split(' ')[0]).toBe(expected('etcdctl'));
  });

  describe("on the lab's cgroup v1 hosts", () => {
    /** Kubernetes 1.37 stand-ins as the user's own builds (the lab bundle holds 1.36). */
    function kube137(): string {
      const entries = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kubelet', 'kube-proxy'].map((component) => {
        const source = readFileSync(bundleFile(bundle(), component).file, 'utf8').replace(/^VERSION = ".*$/m, 'VERSION = "v1.37.2"');
        writeFileSync(join(cluster.dir, `${component}-137`), source);
        return { component, version: 'v1.37.2', arch: 'amd64', file: `${component}-137`, sha256: sha256(source) };
      });
      writeFileSync(join(cluster.dir, 'kube137.json'), JSON.stringify({ artifacts: entries }));
      return join(cluster.dir, 'kube137.json');
    }

    it('refuses Kubernetes 1.37 before anything changes, naming the host and both ways out', async () => {
      expect((await hosts.run(1, 'stat -fc %T /sys/fs/cgroup')).trim()).toBe('tmpfs');
      const before = await hosts.run(1, `sha256sum.real < ${BIN}/kubelet`);
      cluster.setProperty('KUBE_VERSION', 'v1.37.2');
      cluster.setProperty('KUBELET_ALLOW_CGROUP_V1', 'false');
      const { run, report } = await cluster.json('apply', ['--artifacts-manifest', kube137()]);
      expect(run.code).toBe(2);
      // The runtime phase refuses too (no containerd the lab offers supports 1.37); this test is about the kubelet's refusal.
      expect(report.refused?.filter((r) => r.where === worker())).toEqual([
        expect.objectContaining({
          where: worker(),
          message: expect.stringContaining('is a cgroup v1 host (/sys/fs/cgroup is tmpfs), and the kubelet of Kubernetes v1.37.2 refuses to start there') as unknown,
          hint: expect.stringMatching(/KUBE_VERSION up to v1\.34\.x.*KUBELET_ALLOW_CGROUP_V1=true/) as unknown,
        }),
      ]);
      expect(report.results).toEqual([]);
      expect(await hosts.run(1, `sha256sum.real < ${BIN}/kubelet`)).toBe(before);
    });

    it('accepts it with KUBELET_ALLOW_CGROUP_V1=true, warning on every run, and renders failCgroupV1: false', async () => {
      cluster.setProperty('KUBELET_ALLOW_CGROUP_V1', 'true');
      const manifest = kube137();
      const first = await cluster.cli(['apply', '--phase', 'artifacts', '--artifacts-manifest', manifest]);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toContain('warning: ');
      expect(first.stderr).toContain('kubelets of v1.37.2 are told to run on cgroup v1 hosts (failCgroupV1: false)');
      expect((await hosts.run(1, `${BIN}/kubelet --version`)).trim()).toBe('Kubernetes v1.37.2');
      const again = await cluster.cli(['plan', '--phase', 'artifacts', '--artifacts-manifest', manifest]);
      expect(again.stderr).toContain('kubelets of v1.37.2 are told to run on cgroup v1 hosts');
      const out = join(cluster.dir, 'rendered');
      expect((await cluster.cli(['render', '--out', out])).code).toBe(0);
      expect(readFileSync(join(out, worker(), 'etc/kubernetes/kubelet-config.yaml'), 'utf8')).toContain('\nfailCgroupV1: false\n');
    });

    afterAll(() => cluster.setProperty('KUBE_VERSION', bundleFile(bundle(), 'kubelet').version));
  });

  describe('with --bundle and every download address watched', () => {
    const watched: Array<{ close(): Promise<void> }> = [];
    afterAll(async () => {
      for (const k of ['HTTP_PROXY', 'HTTPS_PROXY']) delete process.env[k];
      resetProxySettings();
      await Promise.all(watched.map((w) => w.close()));
    });

    it('fetches nothing at all', async () => {
      const mirror = await startArtifactServer({});
      const proxy = await startProxy();
      watched.push(mirror, proxy);
      process.env.HTTP_PROXY = proxy.url;
      process.env.HTTPS_PROXY = proxy.url;
      resetProxySettings();
      for (const key of ['K8S_DOWNLOAD_URL', 'GITHUB_DOWNLOAD_URL', 'DOCKER_DOWNLOAD_URL']) cluster.setProperty(key, mirror.url);
      // A new cache: nothing can come from an earlier run's downloads either.
      process.env.XDG_CACHE_HOME = join(cluster.dir, 'fresh-cache');
      try {
        // Back to the bundle's Kubernetes (an earlier test installed 1.37 builds), then two binaries lost.
        expect((await cluster.json('apply', ['--phase', 'artifacts'])).run.code).toBe(0);
        for (const i of [0, 1]) await hosts.run(i, `rm -f ${BIN}/kube-proxy ${BIN}/kubectl`);
        const { run, report } = await cluster.json('apply', ['--phase', 'artifacts']);
        expect(run.code, run.stdout + run.stderr).toBe(0);
        // kubectl on both (a node checks its own registration with it), kube-proxy on the worker.
        expect([...changesOf(report, master()), ...changesOf(report, worker())].sort()).toEqual([`file:${BIN}/kube-proxy`, `file:${BIN}/kubectl`, `file:${BIN}/kubectl`]);
        expect(mirror.requests).toEqual([]);
        expect(proxy.forwarded).toEqual([]);
        // Without the bundle the same config goes to the mirror: the watch sees downloads when there are any.
        const online = await cluster.json('plan', ['--phase', 'artifacts', '--bundle', '']);
        expect(online.run.code).toBe(2);
        expect(proxy.forwarded.length + mirror.requests.length).toBeGreaterThan(0);
      } finally {
        delete process.env.XDG_CACHE_HOME;
      }
    });
  });
});
