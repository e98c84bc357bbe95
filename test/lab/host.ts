import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createCgroups, hostCgroupDirs, pidsIn } from './cgroups.js';
import { EL_RELEASES, isElFlavour, type ElFlavour } from './flavours.js';
import type { Generation } from './generations.js';
import { installBuiltinModules } from './modules.js';
import { isMounted, unmountUnder } from './mounts.js';
import { hostDir, LAB_SRC_DIR } from './paths.js';
import { ensureInotifyLimits } from './prereqs.js';
import { allPids, childrenOf, cmdline, innermostPid, isAlive, procRef, sleep, terminate, waitExit, type ProcRef } from './proc.js';
import { rpmRepoUrls } from './rpm-repo.js';
import { sh, shTry } from './run.js';
import { makeHostKeys, sshArgs } from './ssh-material.js';
import type { HostRecord, LabState } from './state.js';
import { writeUbuntuIdentity } from './ubuntu.js';
import { UNSTABLE_URL_PATH } from './unstable-repo.js';

/**
 * One lab host: an overlay over the shared rootfs, customised into a distinct server (name, IP,
 * machine-id, host keys, users' keys), booted by systemd-nspawn under a small restart-on-reboot launcher.
 */
export const LAUNCHER = path.join(LAB_SRC_DIR, 'launcher.sh');

const dirsOf = (lab: string, machine: string) => {
  const base = hostDir(lab, machine);
  return {
    base,
    upper: path.join(base, 'upper'),
    work: path.join(base, 'work'),
    merged: path.join(base, 'merged'),
    docker: path.join(base, 'docker'),
    containerd: path.join(base, 'containerd'),
    log: path.join(base, 'console.log'),
    knownHosts: path.join(base, 'known_hosts'),
  };
};

export async function mountOverlay(state: LabState, h: HostRecord): Promise<void> {
  const d = dirsOf(state.name, h.machine);
  for (const dir of [d.upper, d.work, d.merged, d.docker, d.containerd]) fs.mkdirSync(dir, { recursive: true });
  if (isMounted(d.merged)) return;
  await sh`mount -t overlay overlay -o ${`lowerdir=${h.lowerDirs.join(':')},upperdir=${d.upper},workdir=${d.work}`} ${d.merged}`;
}

export async function unmountOverlay(state: LabState, h: HostRecord): Promise<void> {
  await unmountUnder(dirsOf(state.name, h.machine).merged);
}

/** Makes a fresh overlay a distinct server. Returns the host's known_hosts lines. */
export async function customiseHost(state: LabState, h: HostRecord, labPubKey: string): Promise<string> {
  const root = dirsOf(state.name, h.machine).merged;
  const put = (file: string, content: string, mode = 0o644): void => {
    const p = path.join(root, file);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.rmSync(p, { force: true });
    fs.writeFileSync(p, content, { mode });
  };
  put('etc/hostname', `${h.name}\n`);
  put('etc/hosts', `127.0.0.1\tlocalhost\n${h.address}\t${h.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  put('etc/systemd/network/10-host0.network', `[Match]\nName=host0\n\n[Network]\nAddress=${h.address}/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`);
  put('etc/machine-id', `${(await sh`systemd-id128 new`).stdout.trim()}\n`, 0o444);
  if (isElFlavour(h.flavour)) put('etc/yum.repos.d/kubestrap-lab.repo', labYumRepo(state, h.flavour));
  else put('etc/apt/sources.list.d/kubestrap-lab.list', labAptSources(state, h.generation));
  if (h.flavour === 'ubuntu') writeUbuntuIdentity(root, new URL(state.repoUrl).hostname);
  installAuthorizedKeys(root, labPubKey);
  if (h.options.swapInFstab) fs.appendFileSync(path.join(root, 'etc/fstab'), '/swapfile none swap sw 0 0\n');
  if (h.options.firewalld) await sh`systemctl --root=${root} enable firewalld`;
  await installBuiltinModules(root);
  const entry = await makeHostKeys(root, h.address);
  fs.writeFileSync(dirsOf(state.name, h.machine).knownHosts, entry + '\n');
  return entry;
}

/**
 * A Debian host's only apt sources: the lab's Debian 12 repo, and for the current generation Debian
 * unstable's builds next to it (apt takes the newer version of what both have).
 */
function labAptSources(state: LabState, generation: Generation): string {
  const lines = [`deb [trusted=yes] ${state.repoUrl} ./`];
  if (generation === 'current') {
    if (!state.unstableRepoDir) throw new Error(`lab '${state.name}' serves no Debian unstable repo; run 'npm run lab -- up --name ${state.name}' once`);
    lines.push(`deb [trusted=yes] ${state.repoUrl}${UNSTABLE_URL_PATH} ./`);
  }
  return `${lines.join('\n')}\n`;
}

/** An EL host's only repository: the lab's, for its release ($releasever comes from its release package). */
function labYumRepo(state: LabState, flavour: ElFlavour): string {
  const urls = rpmRepoUrls(state.repoUrl);
  return [
    '[kubestrap-lab]',
    `name=kubestrap lab - ${EL_RELEASES[flavour].releaseLine} packages made from Debian's`,
    `baseurl=${urls.baseUrl}`,
    'enabled=1',
    'gpgcheck=1',
    `gpgkey=${urls.gpgKeyUrl}`,
    '',
  ].join('\n');
}

function installAuthorizedKeys(root: string, pub: string): void {
  const passwd = fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8').split('\n');
  for (const user of ['root', 'ops', 'opspw']) {
    const fields = passwd.find((l) => l.startsWith(`${user}:`))?.split(':');
    if (!fields) throw new Error(`user ${user} missing from the lab rootfs; delete the cached rootfs to rebuild it`);
    const [uid, gid, home] = [Number(fields[2]), Number(fields[3]), fields[5] ?? '/'];
    const sshDir = path.join(root, home, '.ssh');
    fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(sshDir, 'authorized_keys'), pub + '\n', { mode: 0o600 });
    fs.chownSync(sshDir, uid, gid);
    fs.chownSync(path.join(sshDir, 'authorized_keys'), uid, gid);
  }
}

export function hostKnownHostsEntry(lab: string, machine: string): string {
  try {
    return fs.readFileSync(dirsOf(lab, machine).knownHosts, 'utf8').trim();
  } catch {
    return '';
  }
}

function nspawnArgs(state: LabState, h: HostRecord): string[] {
  const d = dirsOf(state.name, h.machine);
  return [
    'systemd-nspawn',
    '--quiet',
    '--boot',
    `--directory=${d.merged}`,
    `--machine=${h.machine}`,
    `--hostname=${h.name}`,
    `--network-bridge=${state.bridge}`,
    '--console=passive',
    // No machined/D-Bus on the machine: nspawn must neither register nor ask for a scope unit.
    '--register=no',
    '--keep-unit',
    '--link-journal=no',
    '--resolv-conf=off',
    // containerd/runc need the keyring syscalls; docker's overlay2 needs a real filesystem below it.
    '--system-call-filter=@keyring',
    `--bind=${d.docker}:/var/lib/docker`,
    `--bind=${d.containerd}:/var/lib/containerd`,
  ];
}

/** Starts the launcher in its own session (setsid) so it outlives the caller (CLI, vitest worker). */
export function bootHost(state: LabState, h: HostRecord): ProcRef {
  const d = dirsOf(state.name, h.machine);
  ensureInotifyLimits();
  const cgroups = hostCgroupDirs(state.cgroupRoots, h.machine);
  createCgroups(cgroups);
  const log = fs.openSync(d.log, 'a');
  const child = spawn('sh', [LAUNCHER, d.base, ...cgroups, '--', ...nspawnArgs(state, h)], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start the launcher for ${h.name}; see ${d.log}`);
  return procRef(child.pid);
}

/**
 * The host's systemd-nspawn: the launcher's child, or, when the launcher was killed, the orphaned
 * nspawn still running the guest (found by its machine name, which is unique to this lab).
 */
function nspawnOf(h: HostRecord): ProcRef | undefined {
  const isOurs = (pid: number): boolean => {
    const argv = cmdline(pid);
    return argv[0] !== undefined && path.basename(argv[0]) === 'systemd-nspawn' && argv.includes(`--machine=${h.machine}`);
  };
  const pid = isAlive(h.launcher) ? childrenOf(h.launcher.pid).find(isOurs) : allPids().find(isOurs);
  if (pid === undefined) return undefined;
  try {
    return procRef(pid);
  } catch {
    return undefined;
  }
}

/** Running means a launcher or an (orphaned) nspawn exists: booting a second one would share the disk. */
export function isRunning(h: HostRecord): boolean {
  return isAlive(h.launcher) || nspawnOf(h) !== undefined;
}

/** The guest's systemd, seen from the machine: the nspawn child that is PID 1 in its namespace. */
export function guestInit(h: HostRecord): number | undefined {
  const nspawn = nspawnOf(h);
  if (!nspawn) return undefined;
  return childrenOf(nspawn.pid).find((p) => innermostPid(p) === 1);
}

/**
 * SIGTERM to nspawn halts the guest cleanly; the launcher then exits because the code is not 133.
 * Whatever survives (a guest whose nspawn was killed) is in the host's cgroups and is killed there.
 */
export async function haltHost(state: LabState, h: HostRecord): Promise<void> {
  const nspawn = nspawnOf(h);
  if (nspawn) await terminate([nspawn], 20_000);
  if (h.launcher) await terminate([h.launcher], 5_000);
  await killCgroupMembers(hostCgroupDirs(state.cgroupRoots, h.machine));
}

export async function killCgroupMembers(dirs: string[]): Promise<void> {
  const refs = pidsIn(dirs.filter((d) => fs.existsSync(d))).flatMap((pid) => {
    try {
      return [procRef(pid)];
    } catch {
      return [];
    }
  });
  if (refs.length > 0) await terminate(refs, 3_000);
}

/** Polls ssh (lab key, strict host keys) until the host answers; fails early if the launcher died. */
export async function waitSsh(state: LabState, h: HostRecord, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const args = sshArgs(state.sshKey, state.knownHosts, 2);
  for (;;) {
    const r = await shTry`ssh ${args} root@${h.address} true`;
    if (r.exitCode === 0) return;
    if (!isAlive(h.launcher)) throw new Error(`host ${h.name} stopped while booting${bootFailure(state, h)}`);
    if (Date.now() > deadline) throw new Error(`host ${h.name} (${h.address}) did not answer ssh within ${timeoutMs / 1000}s: ${r.stderr.trim()}${bootFailure(state, h)}`);
    await sleep(200);
  }
}

/**
 * The evidence of a failed boot, kept: the caller removes the failed host (and its dir with the
 * console log) right after, so the log is copied to `<lab dir>/failed-<machine>-<time>.log` (gone
 * with `down`), and its last lines go into the error message, where a CI log shows them.
 */
function bootFailure(state: LabState, h: HostRecord, lines = 25): string {
  const d = dirsOf(state.name, h.machine);
  let text: string;
  try {
    text = fs.readFileSync(d.log, 'utf8');
  } catch (e) {
    return `; its console log ${d.log} is unreadable (${(e as Error).message})`;
  }
  const kept = path.join(state.stateDir, `failed-${h.machine}-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
  let where = kept;
  try {
    fs.copyFileSync(d.log, kept);
  } catch {
    where = d.log;
  }
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '').trimEnd();
  const tail = plain
    .split('\n')
    .slice(-lines)
    .map((l) => `  | ${l}`)
    .join('\n');
  const hint = /inotify.*Too many open files/.test(plain)
    ? '\n(the machine-wide per-user inotify limit ran out: compare `sysctl fs.inotify.max_user_instances` with INOTIFY_LIMITS in test/lab/prereqs.ts)'
    : '';
  return `; console log kept as ${where}, last lines:\n${tail}${hint}`;
}

export async function sshOk(state: LabState, h: HostRecord): Promise<boolean> {
  return (await shTry`ssh ${sshArgs(state.sshKey, state.knownHosts, 2)} root@${h.address} true`).exitCode === 0;
}

export async function waitLauncherGone(h: HostRecord): Promise<void> {
  if (h.launcher) await waitExit([h.launcher], 5_000);
}
