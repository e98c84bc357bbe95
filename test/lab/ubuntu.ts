import fs from 'node:fs';
import path from 'node:path';

/**
 * The `ubuntu` flavour: a Debian host that says it is Ubuntu 24.04 and resolves names as a fresh
 * Ubuntu server does, through systemd-resolved. Its /etc/resolv.conf is a link to
 * /run/systemd/resolve/stub-resolv.conf, which names only the stub listener 127.0.0.53, and
 * /run/systemd/resolve/resolv.conf names the real server (here the lab's gateway, which answers no
 * DNS: nothing in the lab resolves names). systemd-resolved itself does not run: tmpfiles.d writes
 * both files at every boot, as /run is empty then. apt, the packages and everything else are the
 * Debian base's.
 */
export const UBUNTU_OS_RELEASE = [
  'PRETTY_NAME="Ubuntu 24.04.3 LTS"',
  'NAME="Ubuntu"',
  'VERSION_ID="24.04"',
  'VERSION="24.04.3 LTS (Noble Numbat)"',
  'VERSION_CODENAME=noble',
  'ID=ubuntu',
  'ID_LIKE=debian',
  'HOME_URL="https://www.ubuntu.com/"',
  'UBUNTU_CODENAME=noble',
  'LOGO=ubuntu-logo',
  '',
].join('\n');

/** Files below the host's root; `link` entries are symbolic links. */
type UbuntuFile = { path: string; content: string } | { path: string; link: string };

function ubuntuFiles(gateway: string): UbuntuFile[] {
  return [
    { path: 'etc/os-release', content: UBUNTU_OS_RELEASE },
    { path: 'etc/resolv.conf', link: '../run/systemd/resolve/stub-resolv.conf' },
    {
      path: 'etc/tmpfiles.d/kubestrap-lab-resolved.conf',
      content: [
        '# The lab: what systemd-resolved would write on an Ubuntu server.',
        'd /run/systemd/resolve 0755 root root -',
        'f /run/systemd/resolve/stub-resolv.conf 0644 root root - nameserver 127.0.0.53\\noptions edns0 trust-ad\\nsearch .\\n',
        `f /run/systemd/resolve/resolv.conf 0644 root root - nameserver ${gateway}\\n`,
        '',
      ].join('\n'),
    },
  ];
}

/** Makes the host below `root` (its fresh overlay) an Ubuntu-flavoured one; `gateway` is the lab bridge's address. */
export function writeUbuntuIdentity(root: string, gateway: string): void {
  for (const f of ubuntuFiles(gateway)) {
    const file = path.join(root, f.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // os-release and resolv.conf are links in the base: replace the link, never write through it.
    fs.rmSync(file, { force: true });
    if ('link' in f) fs.symlinkSync(f.link, file);
    else fs.writeFileSync(file, f.content, { mode: 0o644 });
  }
}
