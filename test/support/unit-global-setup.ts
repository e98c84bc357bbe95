import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Machine tools the unit tests drive for real: OpenSSH's sftp-server (putFile runs against it behind
 * an in-process SSH server) and zstd (upload streams are decoded by the real one). Installed here
 * when missing and we may (root, apt), so `npm test` needs no set-up by hand; where we may not, the
 * tests that need them say so and skip, except under CI.
 */
const TOOLS: Array<{ paths: string[]; pkg: string }> = [
  { paths: ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/lib/ssh/sftp-server'], pkg: 'openssh-sftp-server' },
  { paths: ['/usr/bin/zstd', '/bin/zstd'], pkg: 'zstd' },
];

export default function setup(): void {
  const missing = TOOLS.filter((t) => !t.paths.some((p) => existsSync(p))).map((t) => t.pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { env, stdio: 'pipe' });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update', '-qq'], { env, stdio: 'pipe' });
    install();
  }
}
