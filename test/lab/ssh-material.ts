import fs from 'node:fs';
import path from 'node:path';
import { sh } from './run.js';

/**
 * One ed25519 key pair per lab, and a known_hosts with every host's host keys, so tests and the
 * product keep strict host-key checking on instead of learning to switch it off.
 */
export async function ensureLabKey(stateDir: string, lab: string): Promise<{ key: string; pub: string }> {
  const key = path.join(stateDir, 'id_ed25519');
  if (!fs.existsSync(key) || !fs.existsSync(`${key}.pub`)) {
    fs.rmSync(key, { force: true });
    fs.rmSync(`${key}.pub`, { force: true });
    await sh`ssh-keygen -q -t ed25519 -N ${''} -C ${`kubestrap-lab-${lab}`} -f ${key}`;
  }
  fs.chmodSync(key, 0o600);
  return { key, pub: fs.readFileSync(`${key}.pub`, 'utf8').trim() };
}

/**
 * Generates the host's keys into its root and returns its known_hosts lines (by IP). ed25519 and
 * ecdsa only, not `ssh-keygen -A`: an RSA-3072 key costs about 1.3 s of CPU per host here, which
 * would dominate booting (9 hosts on 2 cores); every current client negotiates ed25519 or ecdsa.
 */
export async function makeHostKeys(root: string, address: string): Promise<string> {
  const dir = path.join(root, 'etc/ssh');
  for (const type of ['ed25519', 'ecdsa']) {
    await sh`ssh-keygen -q -t ${type} -N ${''} -C ${`root@${address}`} -f ${path.join(dir, `ssh_host_${type}_key`)}`;
  }
  return fs
    .readdirSync(dir)
    .filter((f) => /^ssh_host_.*_key\.pub$/.test(f))
    .sort()
    .map((f) => {
      const [type, body] = fs.readFileSync(path.join(dir, f), 'utf8').trim().split(/\s+/);
      return `${address} ${type} ${body}`;
    })
    .join('\n');
}

/** Rewritten whole from the current hosts, so removed hosts drop out and a reused IP gets its new keys. */
export function writeKnownHosts(file: string, entries: string[]): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(
    tmp,
    entries
      .filter((e) => e.trim() !== '')
      .map((e) => e.trim() + '\n')
      .join(''),
    { mode: 0o644 },
  );
  fs.renameSync(tmp, file);
}

/** The ssh options every lab connection uses: the lab key, its known_hosts, strict checking. */
export function sshArgs(key: string, knownHosts: string, connectTimeoutSec = 3): string[] {
  return [
    '-i',
    key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${connectTimeoutSec}`,
    '-o',
    'LogLevel=ERROR',
  ];
}
