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
