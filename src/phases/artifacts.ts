import { binariesForRoles } from '../components/binaries.js';
import { binaryFolders, binaryPath } from '../components/paths.js';
import type { HostSpec } from '../config/cluster-spec.js';
import { RunArtifacts } from '../artifacts/provider.js';
import { hasLocalZstd } from '../artifacts/wire-encoding.js';
import { readFact, type HostFacts } from '../engine/facts.js';
import { MISSING_TOOLS_FACT } from '../os/host-tools.js';
import { toolProblems } from '../preflight/host-tools.js';
import type { TransferCodec } from '../transfer/transfer-codec.js';
import { HostError, type KubestrapError } from '../errors.js';
import { CGROUP_FACT, cgroupProblems } from '../preflight/cgroup.js';
import { binaryFile } from './binary-file.js';
import type { Resource } from '../engine/resource.js';
import type { ClusterContext, Phase, PhaseContext } from './phase.js';

export const ARTIFACTS_PHASE_TITLE = 'binaries';

export interface ArtifactsPhaseOptions {
  /** Hash every installed binary on every host, whatever kubestrap's record on the host says. */
  verifyBinaries?: boolean;
}

/**
 * The `artifacts` phase: every host gets the binaries of its roles' components (binariesForRoles)
 * in BIN_PATH, CNI plugins in the CNI folder, 0755 root:root, checked before they leave this
 * machine and sent only where the host's copy differs. Before resources are worked out, `prepare`
 * resolves the binaries for the architectures the hosts have (cache, lock file, bundle or
 * download) and encodes them once for the wire. Its preflight refuses cgroup v1 hosts that would
 * run a kubelet which refuses cgroup v1.
 */
export function artifactsPhase(artifacts: RunArtifacts = new RunArtifacts(), options: ArtifactsPhaseOptions = {}): Phase {
  const ready = () => artifacts.prepared();
  return {
    name: 'artifacts',
    title: ARTIFACTS_PHASE_TITLE,
    appliesTo: receivesBinaries,
    facts: [MISSING_TOOLS_FACT, CGROUP_FACT],
    // Binaries for the architectures of the hosts it changes; its preflight looks at each host alone.
    limitReads: () => [],

    async prepare(ctx: ClusterContext): Promise<KubestrapError[]> {
      const provider = artifacts.provider(ctx.spec);
      const problems: KubestrapError[] = zstdProblems(ctx);
      if (problems.length) return problems;
      const wanted = ctx.hosts.flatMap(({ host, facts, os }) => binariesForRoles(host.roles, ctx.spec.versions).map((name) => ({ name, arch: os.arch, host, facts })));
      problems.push(...(await provider.resolve(wanted)));
      if (problems.length || ctx.mode === 'plan') return problems;
      const p = provider;
      await p.encode(wanted.map((w) => ({ binary: p.binary(w.name, w.arch), codec: codecFor(w.host, w.facts) })));
      return [];
    },

    resources: ({ spec, host, facts, os }: PhaseContext) => {
      const p = ready();
      const codec = codecFor(host, facts);
      const names = binariesForRoles(host.roles, spec.versions);
      // The folders are recorded with the binaries, so that a reset (or a host's last role gone) removes them once empty.
      const folders = binaryFolders(host, names).map((path): Resource => ({ kind: 'directory', path, mode: 0o755, owner: 'root', group: 'root' }));
      return [...folders, ...names.map((name) => binaryFile(p, name, os.arch, codec, binaryPath(host, name), { verify: options.verifyBinaries ?? false }))];
    },

    preflight: (ctx) => [...cgroupProblems(ctx, (h) => h.host.roles.includes('worker')), ...toolProblems(ctx, (h) => (receivesBinaries(h.host) ? unpackers(h.host, h.facts) : []))],

    // What leaves for a host is hashed here first (each file once per run, none that this run made
    // or hashed): the cache may be shared, and a no-op run sends nothing, so it reads nothing.
    beforeUpload: (uploads) => ready().checkSent(uploads),
  };
}

/** The codec for a host: UPLOAD_COMPRESSION, where `auto` takes zstd when both ends have it. */
export function codecFor(host: HostSpec, facts: HostFacts): TransferCodec {
  const setting = host.values.UPLOAD_COMPRESSION ?? 'auto';
  if (setting === 'zstd' || setting === 'gzip' || setting === 'none') return setting;
  return hostHasZstd(facts) && hasLocalZstd() ? 'zstd' : 'gzip';
}

function hostHasZstd(facts: HostFacts): boolean {
  return readFact(facts, MISSING_TOOLS_FACT)?.has('zstd') === false;
}

/** What unpacks the binaries on the host: tar, and gzip for gzip's encoding (zstd is taken only where the host has it). */
function unpackers(host: HostSpec, facts: HostFacts): string[] {
  return codecFor(host, facts) === 'gzip' ? ['tar', 'gzip'] : ['tar'];
}

/** Every host with a role gets binaries. */
function receivesBinaries(host: HostSpec): boolean {
  return host.roles.length > 0;
}

/**
 * UPLOAD_COMPRESSION=zstd where an end lacks zstd, found before anything is resolved. What unpacks
 * the binaries on the host (tar, gzip) the OS phase installs: the preflight refuses it only in a
 * run without that phase.
 */
function zstdProblems(ctx: ClusterContext): HostError[] {
  return ctx.hosts.flatMap(({ host, facts }) => {
    if (!receivesBinaries(host) || host.values.UPLOAD_COMPRESSION !== 'zstd') return [];
    if (!hostHasZstd(facts)) return [new HostError(host.name, 'UPLOAD_COMPRESSION=zstd, but the host has no zstd', {}, 'install zstd on the host, or use UPLOAD_COMPRESSION=auto')];
    if (!hasLocalZstd()) return [new HostError(host.name, 'UPLOAD_COMPRESSION=zstd, but this machine has no zstd to compress with', {}, 'install zstd here, or use UPLOAD_COMPRESSION=auto')];
    return [];
  });
}
