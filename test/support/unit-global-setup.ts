import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Machine tools the unit tests drive for real: OpenSSH's sftp-server (putFile runs against it behind
 * an in-process SSH server). Installed here when missing and we may (root, apt), so `npm test` needs
 * no set-up by hand; where we may not, the tests that need it say so and skip, except under CI.
 */
const SFTP_SERVER_PATHS = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/lib/ssh/sftp-server'];

export default function setup(): void {
  if (SFTP_SERVER_PATHS.some((p) => existsSync(p))) return;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execFileSync('apt-get', ['install', '-y', '-qq', 'openssh-sftp-server'], { env, stdio: 'pipe' });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update', '-qq'], { env, stdio: 'pipe' });
    install();
  }
}
