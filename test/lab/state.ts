import fs from 'node:fs';
import path from 'node:path';
import type { Flavour } from './flavours.js';
import type { Generation } from './generations.js';
import { stateFile } from './paths.js';
import type { ProcRef } from './proc.js';
import { rpmRepoUrls, type LabRpmRepos } from './rpm-repo.js';
import { suiteVersions } from './debian-suite.js';
import { UNSTABLE_URL_PATH } from './unstable-repo.js';

export interface LabHost {
  /** Hostname inside the host. */
  name: string;
  /** systemd-nspawn machine name: unique across labs, at most 12 characters (veth `vb-NAME` <= 15). */
  machine: string;
  address: string;
  /** What the host runs: the Debian base, or that base presented as CentOS 7 (el7) or Rocky Linux 9 (el9). */
  flavour: Flavour;
  /** Which builds of etcd, containerd and Docker its apt offers (generations.ts). */
  generation: Generation;
}

export interface LabInfo {
  name: string;
  bridge: string;
  /** The bridge's own address: the hosts' only neighbour outside the lab, serving the apt repo. */
  gateway: string;
  subnet: string;
  repoUrl: string;
  sshKey: string;
  knownHosts: string;
  stateDir: string;
  /** The RPM repositories EL hosts use (null for a lab made before the lab had them). */
  rpm: LabRpmRepos | null;
  /** The repo of Debian unstable's builds that current hosts see, and the Debian version of each package in it. */
  unstable: { url: string; packages: Record<string, string> } | null;
  hosts: LabHost[];
}

export interface HostOptions {
  /** Default true: firewalld enabled at boot, as on a fresh CentOS-like server. */
  firewalld?: boolean;
  /** Default true: a swap line in /etc/fstab, which kubelet preflight checks complain about. */
  swapInFstab?: boolean;
}

/** Options of `addHosts` and `labUp` for the hosts they create. */
export interface AddHostsOptions extends HostOptions {
  /** Host names are PREFIX<n>; default 'node'. */
  prefix?: string;
  /** One flavour for every new host, or one per host (a list as long as the count). Default debian. */
  flavour?: Flavour | readonly Flavour[];
  /**
   * Which packages a Debian host's apt offers, for every new host or one per host: current (default)
   * Debian unstable's etcd, containerd, Docker and kubectl next to Debian 12's; previous: Debian 12's only.
   */
  generation?: Generation | readonly Generation[];
}

export interface HostRecord extends LabHost {
  octet: number;
  /** The host's overlay lower dirs, topmost first; the rootfs is last. */
  lowerDirs: string[];
  options: Required<HostOptions>;
  launcher?: ProcRef;
  /** The link is cut (bridge port detached); kept across stop/start. */
  cut: boolean;
}

export interface LabState extends Omit<LabInfo, 'hosts' | 'rpm' | 'unstable'> {
  version: 1;
  index: number;
  port: number;
  rootfs: string;
  repoDir: string;
  /** Served under /el/; absent in a lab made before the lab had RPM repos. */
  rpmRepoDir?: string;
  /** Served under /unstable/; absent in a lab made before the lab had it. */
  unstableRepoDir?: string;
  /** Per cgroup hierarchy, this lab's dir (hosts get a subdir each). */
  cgroupRoots: string[];
  server?: ProcRef;
  hosts: HostRecord[];
}

export function readState(lab: string): LabState | undefined {
  try {
    const state = JSON.parse(fs.readFileSync(stateFile(lab), 'utf8')) as LabState;
    // Hosts of a lab made before flavours existed are Debian hosts on the bare rootfs.
    for (const h of state.hosts) {
      h.flavour ??= 'debian';
      h.lowerDirs ??= [state.rootfs];
      // Hosts made before generations saw Debian 12's repo only.
      h.generation ??= 'previous';
    }
    return state;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`lab state ${stateFile(lab)} is unreadable (${(e as Error).message}); run 'npm run lab -- down --name ${lab}' to clean up`);
  }
}

/** Written via rename so that readers without the lock never see half a file. */
export function writeState(state: LabState): void {
  const file = stateFile(state.name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

export function toInfo(s: LabState): LabInfo {
  return {
    name: s.name,
    bridge: s.bridge,
    gateway: s.gateway,
    subnet: s.subnet,
    repoUrl: s.repoUrl,
    sshKey: s.sshKey,
    knownHosts: s.knownHosts,
    stateDir: s.stateDir,
    rpm: s.rpmRepoDir ? rpmRepoUrls(s.repoUrl) : null,
    unstable: s.unstableRepoDir ? { url: `${s.repoUrl}${UNSTABLE_URL_PATH}`, packages: suiteVersions(s.unstableRepoDir).packages } : null,
    hosts: s.hosts.map(publicHost),
  };
}

export function publicHost({ name, machine, address, flavour, generation }: LabHost): LabHost {
  return { name, machine, address, flavour, generation };
}

export function findHost(s: LabState, name: string): HostRecord {
  const h = s.hosts.find((x) => x.name === name || x.machine === name);
  if (!h) throw new Error(`lab '${s.name}' has no host '${name}' (hosts: ${s.hosts.map((x) => x.name).join(', ') || 'none'})`);
  return h;
}
