import fs from 'node:fs';
import path from 'node:path';
import { cachedDir, shortHash } from './cache.js';
import { sh } from './run.js';

/**
 * The shared, read-only base of every lab host: a minbase Debian bookworm with systemd, sshd and what a
 * fresh server has, built once and used as the overlay lower dir of all hosts of all labs.
 */
export const SUITE = 'bookworm';

/**
 * python3 comes with firewalld and is also what the Kubernetes stand-ins run on (python3-yaml: they
 * read kubeconfigs, configs and manifests; python3-grpcio: they speak etcd's gRPC API, whose users
 * are the client certificates' CNs, which etcd's JSON gateway cannot carry; python3-nacl: the API
 * server's secretbox encryption at rest, with python3-cffi-backend named since debootstrap does not
 * resolve the virtual package nacl depends on).
 */
export const ROOTFS_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'iproute2',
  'iptables',
  'procps',
  'sudo',
  'ca-certificates',
  'openssl',
  'kmod',
  'libpam-systemd',
  'firewalld',
  'python3',
  'python3-yaml',
  'python3-grpcio',
  'python3-nacl',
  'python3-cffi-backend',
  'curl',
  'iputils-ping',
  'netcat-openbsd',
  // What UPLOAD_COMPRESSION=auto looks for on a host; current Ubuntu installs have it too.
  'zstd',
];

/** Bump when `postProcess` changes: it is part of the cache key. */
const RECIPE_VERSION = 4;

const PERIODIC_UNITS = ['apt-daily.timer', 'apt-daily-upgrade.timer', 'dpkg-db-backup.timer', 'e2scrub_all.timer', 'fstrim.timer', 'e2scrub_reap.service'];

export const OPSPW_PASSWORD = 'opspw-lab-pass';

export function rootfsHash(): string {
  return shortHash({ suite: SUITE, packages: ROOTFS_PACKAGES, recipe: RECIPE_VERSION });
}

export async function ensureRootfs(log: (msg: string) => void): Promise<string> {
  return cachedDir('rootfs', rootfsHash(), async (dir) => {
    log(`building base rootfs in ${dir} (debootstrap, about a minute, once per machine)`);
    await debootstrap(dir);
    await postProcess(dir);
  });
}

/** The machine's Debian mirror: the only registry reachable from here. */
export function debianMirror(): string {
  const text = fs.readFileSync('/etc/apt/sources.list.d/debian.sources', 'utf8');
  for (const stanza of text.split(/\n\s*\n/)) {
    if (/^Suites:.*\bbookworm\b/m.test(stanza) && !/security/.test(stanza)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri) return uri;
    }
  }
  throw new Error('no bookworm mirror in /etc/apt/sources.list.d/debian.sources; the lab builds its rootfs from that mirror');
}

async function debootstrap(dir: string): Promise<void> {
  const log = `${dir}.debootstrap.log`;
  try {
    await sh`debootstrap --variant=minbase --include=${ROOTFS_PACKAGES.join(',')} ${SUITE} ${dir} ${debianMirror()} >${log} 2>&1`;
    fs.rmSync(log, { force: true });
  } catch {
    const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n');
    throw new Error(`debootstrap failed (full log: ${log}):\n${tail}`);
  }
}

function write(root: string, file: string, content: string, mode = 0o644): void {
  const p = path.join(root, file);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.rmSync(p, { force: true });
  fs.writeFileSync(p, content, { mode });
}

async function postProcess(root: string): Promise<void> {
  makeIdentityPerHost(root);
  isolateFromOutside(root);
  await addLabUsers(root);
  configureSshd(root);
  writeCgroupRwUnit(root);
  await sh`systemctl --root=${root} enable systemd-networkd kubestrap-lab-cgroup-rw.service`;
  // Installed but off: a host opts in (the fresh CentOS-like profile) so others can skip the trap.
  await sh`systemctl --root=${root} disable firewalld`;
  // Background jobs that would take the dpkg lock or load the machine at random moments mid-test.
  await sh`systemctl --root=${root} disable ${PERIODIC_UNITS}`;
  await sh`systemctl --root=${root} mask getty@tty1.service`;
  await sh`chroot ${root} apt-get clean`;
  fs.rmSync(path.join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
  fs.mkdirSync(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  write(root, 'etc/kubestrap-lab-rootfs', `${rootfsHash()}\n`);
}

/** Each host gets its own machine-id, hostname and ssh host keys at creation; none may be shared. */
function makeIdentityPerHost(root: string): void {
  write(root, 'etc/machine-id', '');
  fs.rmSync(path.join(root, 'var/lib/dbus/machine-id'), { force: true });
  fs.symlinkSync('/etc/machine-id', path.join(root, 'var/lib/dbus/machine-id'));
  fs.rmSync(path.join(root, 'etc/hostname'), { force: true });
  for (const f of fs.readdirSync(path.join(root, 'etc/ssh'))) {
    if (f.startsWith('ssh_host_')) fs.rmSync(path.join(root, 'etc/ssh', f));
  }
}

/**
 * Hosts must never reach past the lab bridge: no apt source but the lab repo (written per host, it
 * names the lab's gateway), and no resolver (debootstrap copied the machine's).
 */
function isolateFromOutside(root: string): void {
  fs.rmSync(path.join(root, 'etc/apt/sources.list'), { force: true });
  for (const f of fs.readdirSync(path.join(root, 'etc/apt/sources.list.d'))) fs.rmSync(path.join(root, 'etc/apt/sources.list.d', f));
  write(root, 'etc/resolv.conf', '# lab host: no DNS on purpose, the lab has no way out\n');
}

/** root and ops log in with the lab key only; opspw also with a password, which its sudo asks for. */
async function addLabUsers(root: string): Promise<void> {
  await sh`chroot ${root} useradd -m -s /bin/bash ops`;
  await sh`chroot ${root} useradd -m -s /bin/bash -G sudo opspw`;
  await sh({ input: `opspw:${OPSPW_PASSWORD}\n` })`chroot ${root} chpasswd`;
  write(root, 'etc/sudoers.d/kubestrap-lab', 'ops ALL=(ALL:ALL) NOPASSWD:ALL\n', 0o440);
}

function configureSshd(root: string): void {
  write(
    root,
    'etc/ssh/sshd_config.d/kubestrap-lab.conf',
    [
      '# lab host: key login for every user, password login too (for the opspw user)',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      '# jump-host tests tunnel through hosts',
      'AllowTcpForwarding yes',
      'UseDNS no',
      '',
    ].join('\n'),
  );
}

/**
 * nspawn mounts the cgroup v1 controllers read-only in the guest; runc needs them writable to run a
 * container. Remounting them inside the guest (which only sees its own subtree) is enough.
 */
function writeCgroupRwUnit(root: string): void {
  write(
    root,
    'etc/systemd/system/kubestrap-lab-cgroup-rw.service',
    [
      '[Unit]',
      'Description=Make cgroup v1 controllers writable for container runtimes (lab host)',
      'DefaultDependencies=no',
      'After=local-fs.target',
      'Before=containerd.service docker.service sysinit.target',
      '',
      '[Service]',
      'Type=oneshot',
      'RemainAfterExit=yes',
      `ExecStart=/bin/sh -c 'for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$$d" || true; done'`,
      '',
      '[Install]',
      'WantedBy=sysinit.target',
      '',
    ].join('\n'),
  );
}
