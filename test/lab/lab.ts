import fs from 'node:fs';
import { candidateLabRoots, hostCgroupDirs, labCgroupRoots, removeCgroupTrees } from './cgroups.js';
import { bootHost, customiseHost, guestInit, haltHost, hostKnownHostsEntry, isRunning, killCgroupMembers, mountOverlay, sshOk, unmountOverlay, waitSsh } from './host.js';
import { ensureElLayers } from './el-layer.js';
import { isElFlavour, type ElFlavour, type Flavour } from './flavours.js';
import { withLock } from './lock.js';
import { labLeftoverProcesses } from './leftovers.js';
import { mountsUnder, unmountUnder } from './mounts.js';
import { assertSubnetFree, attachPort, createBridge, defaultIndex, deleteLink, detachPort, FIRST_HOST_OCTET, hostAddress, LAST_HOST_OCTET, labNet, vethsOf } from './network.js';
import { hostDir, labDir, STATE_ROOT } from './paths.js';
import { isAlive, terminate } from './proc.js';
import { DEFAULT_GENERATION } from './generations.js';
import { ensureLabRepos } from './lab-repos.js';
import { ensureRpmRepo, RPM_URL_PATH } from './rpm-repo.js';
import { sh } from './run.js';
import { startRepoServer, stopRepoServer } from './server.js';
import { ensureLabKey, writeKnownHosts } from './ssh-material.js';
import { UNSTABLE_URL_PATH } from './unstable-repo.js';
import { findHost, publicHost, readState, toInfo, writeState, type AddHostsOptions, type HostRecord, type LabHost, type LabInfo, type LabState } from './state.js';

export interface LabUpOptions extends AddHostsOptions {
  /** Default 'lab'. Lower-case letters, digits and dashes. */
  name?: string;
  /** How many hosts the lab should have (existing ones count). Default 0. */
  hosts?: number;
  /** N of 10.88.N.0/24; default derived from the name. */
  subnetIndex?: number;
  /** Port of the repo server on the gateway. Default 8000. */
  repoPort?: number;
  /** Progress lines for the slow parts (cache builds, booting); default stderr. */
  log?: (msg: string) => void;
}

const defaultLog = (msg: string): void => void process.stderr.write(`[lab] ${msg}\n`);

function checkName(name: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)) throw new Error(`lab name '${name}' is not valid: use 1-31 lower-case letters, digits or dashes`);
  return name;
}

/** Brings the lab to at least `hosts` running hosts; what is already there is kept. */
export async function labUp(opts: LabUpOptions = {}): Promise<LabInfo> {
  const name = checkName(opts.name ?? 'lab');
  const log = opts.log ?? defaultLog;
  const { rootfs, debian12: repoDir, unstable: unstableRepoDir } = await ensureLabRepos(log);
  const rpmRepoDir = await ensureRpmRepo(repoDir, rootfs, log);
  const missing = (opts.hosts ?? 0) - (readState(name)?.hosts.length ?? 0);
  const flavours = missing > 0 ? hostFlavours(missing, opts.flavour) : [];
  const layers = await elLayers(flavours, rootfs, log);
  return withLock(name, async () => {
    const state = readState(name) ?? (await newLabState(name, { rootfs, repoDir, rpmRepoDir, unstableRepoDir }, opts));
    await adoptServedRepos(state, { rpmRepoDir, unstableRepoDir });
    await ensureInfrastructure(state);
    await restartStoppedHosts(state);
    const more = (opts.hosts ?? 0) - state.hosts.length;
    if (more > 0) await addHostsLocked(state, more, opts, layers);
    return toInfo(state);
  });
}

/** One value per new host, from one for all (or the default) or a list with one per host. */
function perHost<T extends string>(count: number, given: T | readonly T[] | undefined, fallback: T, what: string): T[] {
  if (given === undefined || typeof given === 'string') return Array.from({ length: count }, () => (given as T | undefined) ?? fallback);
  const list = given as readonly T[];
  if (list.length !== count) throw new Error(`${list.length} ${what} (${list.join(', ')}) given for ${count} new hosts: give one per host, or one for all`);
  return [...list];
}

function hostFlavours(count: number, flavour: AddHostsOptions['flavour']): Flavour[] {
  return perHost(count, flavour, 'debian', 'flavours');
}

/** The EL layers the new hosts need, built (once per machine) before any lab lock is taken. */
async function elLayers(flavours: readonly Flavour[], rootfs: string, log: (msg: string) => void): Promise<Map<ElFlavour, string[]>> {
  const layers = new Map<ElFlavour, string[]>();
  for (const f of new Set(flavours)) if (isElFlavour(f)) layers.set(f, await ensureElLayers(f, rootfs, log));
  return layers;
}

/** The repos served below the Debian 12 one: RPM repos under /el/, Debian unstable's builds under /unstable/. */
type ServedRepos = Required<Pick<LabState, 'rpmRepoDir' | 'unstableRepoDir'>>;

/**
 * A lab made before it had one of these repos (or made with an older build of one) gets the
 * current ones, with its repo server restarted to serve them.
 */
async function adoptServedRepos(state: LabState, repos: ServedRepos): Promise<void> {
  if (state.rpmRepoDir === repos.rpmRepoDir && state.unstableRepoDir === repos.unstableRepoDir) return;
  Object.assign(state, repos);
  await stopRepoServer(state.server);
  delete state.server;
  writeState(state);
}

async function newLabState(name: string, dirs: ServedRepos & Pick<LabState, 'rootfs' | 'repoDir'>, opts: LabUpOptions): Promise<LabState> {
  const net = labNet(name, opts.subnetIndex ?? defaultIndex(name));
  assertIndexUnused(name, net.index);
  await assertSubnetFree(net);
  const stateDir = labDir(name);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const { key } = await ensureLabKey(stateDir, name);
  const port = opts.repoPort ?? 8000;
  const state: LabState = {
    version: 1,
    name,
    ...net,
    port,
    repoUrl: `http://${net.gateway}:${port}`,
    sshKey: key,
    knownHosts: `${stateDir}/known_hosts`,
    stateDir,
    ...dirs,
    cgroupRoots: labCgroupRoots(name),
    hosts: [],
  };
  writeKnownHosts(state.knownHosts, []);
  writeState(state);
  return state;
}

/** Machine names embed the subnet index, so two labs on one index would also share machine names. */
function assertIndexUnused(name: string, index: number): void {
  if (!fs.existsSync(STATE_ROOT)) return;
  for (const other of fs.readdirSync(STATE_ROOT)) {
    const s = other === name ? undefined : readState(other);
    if (s && s.index === index) {
      throw new Error(`lab '${other}' already uses subnet 10.88.${index}.0/24; pass another subnetIndex for lab '${name}' or take '${other}' down`);
    }
  }
}

async function ensureInfrastructure(state: LabState): Promise<void> {
  await refreshCgroupRoots(state);
  await createBridge(state);
  if (!isAlive(state.server)) {
    state.server = await startRepoServer({
      root: state.repoDir,
      host: state.gateway,
      port: state.port,
      labDir: state.stateDir,
      mounts: {
        ...(state.rpmRepoDir ? { [RPM_URL_PATH]: state.rpmRepoDir } : {}),
        ...(state.unstableRepoDir ? { [UNSTABLE_URL_PATH]: state.unstableRepoDir } : {}),
      },
    });
    writeState(state);
  }
}

/**
 * The lab's cgroups hang below the creating process's own cgroups (memory: a per-session cgroup
 * on these machines). When nothing runs, re-anchor them below ours, so a lab revived later (say
 * after a reboot) never recreates cgroups under a session that is gone.
 */
async function refreshCgroupRoots(state: LabState): Promise<void> {
  if (state.hosts.some(isRunning)) return;
  const current = labCgroupRoots(state.name);
  if (current.join() === state.cgroupRoots.join()) return;
  await removeCgroupTrees(state.cgroupRoots.filter((d) => fs.existsSync(d)));
  state.cgroupRoots = current;
  writeState(state);
}

async function restartStoppedHosts(state: LabState): Promise<void> {
  const stopped = state.hosts.filter((h) => !isRunning(h));
  for (const h of stopped) await startLocked(state, h, false);
  await waitAllSsh(state, stopped);
}

/**
 * Waits for every host, not just until the first failure: each failed host's console log is kept
 * and reported, and no wait is still polling when the caller removes the hosts.
 */
async function waitAllSsh(state: LabState, hosts: HostRecord[]): Promise<void> {
  const results = await Promise.allSettled(hosts.map((h) => waitSsh(state, h)));
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
  if (errors.length > 0) throw new Error(errors.join('\n'));
}

function machineName(index: number, name: string, octet: number): string {
  const readable = `k${index}-${name}`;
  return readable.length <= 12 ? readable : `k${index}-h${octet}`;
}

function planHosts(state: LabState, count: number, opts: AddHostsOptions, layers: ReadonlyMap<ElFlavour, string[]>): HostRecord[] {
  const prefix = opts.prefix ?? 'node';
  const flavours = hostFlavours(count, opts.flavour);
  const generations = perHost(count, opts.generation, DEFAULT_GENERATION, 'generations');
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(prefix)) throw new Error(`host prefix '${prefix}' is not valid: a lower-case letter then up to 15 letters, digits or dashes`);
  const used = new Set(state.hosts.map((h) => h.octet));
  const planned: HostRecord[] = [];
  for (let octet = FIRST_HOST_OCTET; octet <= LAST_HOST_OCTET && planned.length < count; octet++) {
    if (used.has(octet)) continue;
    const name = `${prefix}${octet - FIRST_HOST_OCTET + 1}`;
    if (state.hosts.some((h) => h.name === name)) continue;
    const flavour = flavours[planned.length]!;
    planned.push({
      name,
      machine: machineName(state.index, name, octet),
      address: hostAddress(state, octet),
      flavour,
      lowerDirs: [...(isElFlavour(flavour) ? elLowerDirs(state, flavour, layers) : []), state.rootfs],
      octet,
      generation: generations[planned.length]!,
      options: { firewalld: opts.firewalld ?? true, swapInFstab: opts.swapInFstab ?? true },
      cut: false,
    });
  }
  if (planned.length < count) throw new Error(`lab '${state.name}' has no room for ${count} more hosts (max ${LAST_HOST_OCTET - FIRST_HOST_OCTET + 1})`);
  return planned;
}

function elLowerDirs(state: LabState, flavour: ElFlavour, layers: ReadonlyMap<ElFlavour, string[]>): string[] {
  if (!state.rpmRepoDir) throw new Error(`lab '${state.name}' was made before it had RPM repos; run 'npm run lab -- up --name ${state.name}' once, then add ${flavour} hosts`);
  const dirs = layers.get(flavour);
  if (!dirs) throw new Error(`no ${flavour} layer was built for lab '${state.name}'`);
  return dirs;
}

async function addHostsLocked(state: LabState, count: number, opts: AddHostsOptions, layers: ReadonlyMap<ElFlavour, string[]>): Promise<HostRecord[]> {
  const fresh = planHosts(state, count, opts, layers);
  // Recorded before anything is created, so that `down` after a crash knows what to look for.
  state.hosts.push(...fresh);
  writeState(state);
  const { pub } = await ensureLabKey(state.stateDir, state.name);
  try {
    await Promise.all(
      fresh.map(async (h) => {
        await mountOverlay(state, h);
        await customiseHost(state, h, pub);
      }),
    );
    refreshKnownHosts(state);
    for (const h of fresh) h.launcher = bootHost(state, h);
    writeState(state);
    await waitAllSsh(state, fresh);
  } catch (e) {
    await removeHostsLocked(
      state,
      fresh.map((h) => h.name),
    ).catch(() => undefined);
    throw e;
  }
  return fresh;
}

function refreshKnownHosts(state: LabState): void {
  writeKnownHosts(
    state.knownHosts,
    state.hosts.map((h) => hostKnownHostsEntry(state.name, h.machine)),
  );
}

async function removeHostsLocked(state: LabState, names: string[]): Promise<void> {
  const doomed = names.map((n) => findHost(state, n));
  await Promise.all(doomed.map((h) => haltHost(state, h)));
  for (const h of doomed) {
    await unmountOverlay(state, h);
    await removeCgroupTrees(hostCgroupDirs(state.cgroupRoots, h.machine).filter((d) => fs.existsSync(d)));
    fs.rmSync(`/run/systemd/nspawn/propagate/${h.machine}`, { recursive: true, force: true });
    assertNothingMounted(hostDir(state.name, h.machine));
    fs.rmSync(hostDir(state.name, h.machine), { recursive: true, force: true });
  }
  state.hosts = state.hosts.filter((h) => !doomed.includes(h));
  refreshKnownHosts(state);
  writeState(state);
}

/** Deleting a dir with a live overlay below would delete through it: refuse loudly instead. */
function assertNothingMounted(dir: string): void {
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`refusing to delete ${dir}: ${left.join(', ')} still mounted; unmount it ('umount -l') and run down again`);
}

async function startLocked(state: LabState, h: HostRecord, wait = true): Promise<void> {
  if (isRunning(h)) return;
  await mountOverlay(state, h);
  h.cut = false;
  h.launcher = bootHost(state, h);
  writeState(state);
  if (wait) await waitSsh(state, h);
}

function mustState(lab: string): LabState {
  const s = readState(lab);
  if (!s) throw new Error(`lab '${lab}' is not up; run 'npm run lab -- up --name ${lab}'`);
  return s;
}

export async function labInfo(name = 'lab'): Promise<LabInfo | undefined> {
  const s = readState(checkName(name));
  return s ? toInfo(s) : undefined;
}

export async function addHosts(lab: string, count: number, opts: AddHostsOptions & { log?: (msg: string) => void } = {}): Promise<LabHost[]> {
  const log = opts.log ?? defaultLog;
  const { rootfs, debian12, unstable } = await ensureLabRepos(log);
  const rpmRepoDir = await ensureRpmRepo(debian12, rootfs, log);
  const layers = await elLayers(hostFlavours(count, opts.flavour), mustState(lab).rootfs, log);
  return withLock(lab, async () => {
    const state = mustState(lab);
    await adoptServedRepos(state, { rpmRepoDir, unstableRepoDir: unstable });
    await ensureInfrastructure(state);
    const fresh = await addHostsLocked(state, count, opts, layers);
    return fresh.map(publicHost);
  });
}

export async function removeHosts(lab: string, names: string[]): Promise<void> {
  await withLock(lab, async () => removeHostsLocked(mustState(lab), names));
}

export async function stopHost(lab: string, name: string): Promise<void> {
  await withLock(lab, async () => {
    const state = mustState(lab);
    const h = findHost(state, name);
    await haltHost(state, h);
    await unmountOverlay(state, h);
    delete h.launcher;
    writeState(state);
  });
}

/** Boots the host again on the same overlay (its disk is kept), with its link connected. */
export async function startHost(lab: string, name: string): Promise<void> {
  await withLock(lab, async () => {
    const state = mustState(lab);
    await startLocked(state, findHost(state, name));
  });
}

export async function cutLink(lab: string, name: string): Promise<void> {
  await withLock(lab, async () => {
    const state = mustState(lab);
    const h = findHost(state, name);
    await detachPort(h.machine);
    h.cut = true;
    writeState(state);
  });
}

export async function restoreLink(lab: string, name: string): Promise<void> {
  await withLock(lab, async () => {
    const state = mustState(lab);
    const h = findHost(state, name);
    await attachPort(h.machine, state.bridge);
    h.cut = false;
    writeState(state);
  });
}

export async function labStatus(name = 'lab'): Promise<Array<LabHost & { sshOk: boolean; running: boolean }>> {
  const s = readState(checkName(name));
  if (!s) return [];
  return Promise.all(
    s.hosts.map(async (h) => {
      const running = guestInit(h) !== undefined;
      return { ...publicHost(h), running, sshOk: running && (await sshOk(s, h)) };
    }),
  );
}

/** Runs `sh -c script` as root in the host's namespaces, via its PID 1: works without ssh and with a cut link. */
export async function hostExec(lab: string, name: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const h = findHost(mustState(lab), name);
  const pid = guestInit(h);
  if (pid === undefined) throw new Error(`host ${name} of lab '${lab}' is not running; start it with startHost or 'npm run lab -- start-host ${name}'`);
  const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'USER=root'];
  const r = await sh({ nothrow: true })`nsenter -t ${pid} -a -- /usr/bin/env -i ${env} /bin/sh -c ${script}`;
  return { code: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Takes the lab apart in the only safe order: processes (guests halted by SIGTERM to nspawn), then
 * mounts, cgroups, links, the repo server and the state dir. Works without a state file too,
 * finding what a crashed run left from the lab's dir, cgroups and machine-name prefix.
 */
export async function labDown(name = 'lab'): Promise<void> {
  checkName(name);
  await withLock(name, async () => {
    const state = readState(name);
    const net = labNet(name, state?.index ?? defaultIndex(name));
    const dir = labDir(name);
    if (state) await Promise.all(state.hosts.map((h) => haltHost(state, h)));
    await killLeftovers(dir);
    const cgroupRoots = candidateLabRoots(name, state?.cgroupRoots);
    await killCgroupMembers(cgroupRoots);
    await unmountUnder(dir);
    await removeCgroupTrees(cgroupRoots);
    removePropagateDirs(`k${net.index}-`);
    for (const veth of await vethsOf(net.bridge, `k${net.index}-`)) await deleteLink(veth);
    await deleteLink(net.bridge);
    await stopRepoServer(state?.server);
    assertNothingMounted(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

async function killLeftovers(dir: string): Promise<void> {
  const { launchers, others } = labLeftoverProcesses(dir);
  // Launchers first, so none boots its guest again while we stop it.
  await terminate(launchers, 1_000);
  await terminate(others, 20_000);
}

function removePropagateDirs(machinePrefix: string): void {
  const base = '/run/systemd/nspawn/propagate';
  if (!fs.existsSync(base)) return;
  for (const m of fs.readdirSync(base)) if (m.startsWith(machinePrefix)) fs.rmSync(`${base}/${m}`, { recursive: true, force: true });
}
