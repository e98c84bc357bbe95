import fs from 'node:fs';
import { sh, shTry } from './run.js';

/** Command the lab runs -> Debian package that provides it. */
const NEEDED: Record<string, string> = {
  debootstrap: 'debootstrap',
  'systemd-nspawn': 'systemd-container',
  'dpkg-scanpackages': 'dpkg-dev',
  'dpkg-deb': 'dpkg',
  'ssh-keygen': 'openssh-client',
  ssh: 'openssh-client',
  openssl: 'openssl',
  nsenter: 'util-linux',
  flock: 'util-linux',
  ip: 'iproute2',
  gzip: 'gzip',
  // The controller's zstd makes the encodings that `UPLOAD_COMPRESSION=auto` sends to the hosts.
  zstd: 'zstd',
  // The RPM repos for EL hosts: built, signed and indexed on this machine.
  rpmbuild: 'rpm',
  rpmsign: 'rpm',
  createrepo_c: 'createrepo-c',
  gpg: 'gpg',
};

let checked = false;

export function assertLinuxRoot(): void {
  if (process.platform !== 'linux') throw new Error(`the lab needs Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (it creates bridges, mounts and containers); run as root');
}

async function missingPackages(): Promise<string[]> {
  const pkgs = new Set<string>();
  for (const [cmd, pkg] of Object.entries(NEEDED)) {
    if ((await shTry`command -v ${cmd}`).exitCode !== 0) pkgs.add(pkg);
  }
  return [...pkgs];
}

function aptListsEmpty(): boolean {
  try {
    return !fs.readdirSync('/var/lib/apt/lists').some((f) => f.endsWith('_Packages') || f.includes('_Packages.'));
  } catch {
    return true;
  }
}

/** Installs the machine-side tools the lab needs; `apt-get update` only when the lists are absent or stale. */
export async function ensurePrereqs(): Promise<void> {
  if (checked) return;
  assertLinuxRoot();
  const missing = await missingPackages();
  if (missing.length > 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (aptListsEmpty()) await sh({ env })`apt-get update -qq`;
    const first = await shTry({ env })`apt-get install -y -qq ${missing}`;
    if (first.exitCode !== 0) {
      await sh({ env })`apt-get update -qq`;
      const second = await shTry({ env })`apt-get install -y -qq ${missing}`;
      if (second.exitCode !== 0) throw new Error(`could not install ${missing.join(' ')}: ${second.stderr.trim()}`);
    }
  }
  checked = true;
}

/**
 * inotify limits the lab's hosts need. The guests share the machine's user namespace, so every root
 * process in every guest counts against one per-user budget, `fs.inotify.max_user_instances`
 * (Debian's default: 128). A Debian guest's root processes hold about 8 inotify instances once
 * booted (systemd 5, logind, firewalld, agetty) and more while booting, so a dozen hosts across all
 * labs exhaust 128, and the next guest's systemd dies at once: "Failed to create control group
 * inotify object: Too many open files", "Failed to allocate manager object", nspawn exits 255.
 * 8192 leaves room for several hundred hosts; the limits are only ever raised, never lowered.
 */
export const INOTIFY_LIMITS: Record<string, number> = {
  'fs/inotify/max_user_instances': 8192,
  'fs/inotify/max_user_watches': 524288,
};

/** Raises the machine's inotify limits to INOTIFY_LIMITS (until the next reboot); called before every boot. */
export function ensureInotifyLimits(): void {
  for (const [key, wanted] of Object.entries(INOTIFY_LIMITS)) {
    const file = `/proc/sys/${key}`;
    const current = Number(fs.readFileSync(file, 'utf8').trim());
    if (current >= wanted) continue;
    try {
      fs.writeFileSync(file, `${wanted}\n`);
    } catch (e) {
      const name = key.replace(/\//g, '.');
      throw new Error(
        `${name} is ${current} and could not be raised to ${wanted} (${(e as Error).message}); lab hosts share this per-user limit ` +
          `and a guest systemd that finds it exhausted dies while booting: run 'sysctl -w ${name}=${wanted}' first`,
      );
    }
  }
}
