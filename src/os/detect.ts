import { HostError } from '../errors.js';
import type { HostFacts } from '../engine/facts.js';
import { archOfMachine, type Arch } from '../upstream/index.js';
import type { OsAdapter } from './adapter.js';
import { debianAdapter } from './debian.js';
import { elAdapter, type ElMajor } from './el.js';

const EL_IDS = ['rhel', 'centos', 'rocky', 'almalinux', 'ol', 'fedora'];
/**
 * EL 7 is past its end of life (CentOS 7: June 2024; its mirrors moved to vault.centos.org, see
 * EL_BASE_REPO) and kept for the clusters the seeds made; EL 10 (RHEL, Rocky, Alma 10: 2025) is
 * cgroup v2 only and dnf only. Debian and Ubuntu releases are taken from 11 and 20.04 on, the
 * current ones included (Debian 13, Ubuntu 26.04: cgroup v2 only, iptables on nftables); what
 * their own containerd is worth is asked of their package manager, not of this list (see
 * src/runtime/source.ts).
 */
const SUPPORTED_EL_MAJORS: readonly ElMajor[] = [7, 8, 9, 10];
const SUPPORTED = 'CentOS/RHEL/Rocky/Alma/Oracle Linux 7-10, Debian 11 or later, Ubuntu 20.04 or later, on x86_64 or aarch64, with systemd';

export interface DetectedOs {
  adapter: OsAdapter;
  /** Kubernetes' name of the architecture: amd64, arm64. */
  arch: Arch;
  /** For reports: the release and the package manager, e.g. `Rocky Linux 9.6 (dnf)`. */
  label: string;
}

/** Picks the adapter for a host, or explains why kubestrap cannot manage it (before anything changes). */
export function detectOs(host: string, facts: HostFacts): DetectedOs {
  const arch = archOfMachine(facts.machine);
  if (!arch) throw unsupported(host, `architecture ${facts.machine || 'unknown'} is not supported`);
  if (facts.init !== 'systemd') throw unsupported(host, `PID 1 is ${facts.init || 'unknown'}, not systemd`);

  const adapter = adapterFor(host, facts);
  return { adapter, arch, label: `${facts.os.prettyName.replace(/\s*\([^)]*\)$/, '')} (${adapter.packageManager})` };
}

function adapterFor(host: string, facts: HostFacts): OsAdapter {
  const ids = [facts.os.id, ...facts.os.idLike];
  const major = Number.parseInt(facts.os.versionId, 10);
  if (ids.some((id) => EL_IDS.includes(id)) && facts.os.id !== 'fedora') {
    const elMajor = SUPPORTED_EL_MAJORS.find((m) => m === major);
    if (!elMajor) throw unsupported(host, `${facts.os.prettyName} is not supported`);
    const manager = facts.packageManager === 'dnf' || facts.packageManager === 'yum' ? facts.packageManager : undefined;
    if (!manager) throw unsupported(host, `${facts.os.prettyName} has neither dnf nor yum`);
    return elAdapter(elMajor, manager);
  }
  if (facts.os.id === 'debian' && major >= 11) return debianAdapter;
  if (facts.os.id === 'ubuntu' && major >= 20) return debianAdapter;
  throw unsupported(host, `${facts.os.prettyName} is not supported`);
}

function unsupported(host: string, message: string): HostError {
  return new HostError(host, message, {}, `kubestrap supports ${SUPPORTED}`);
}
