import { FACTS_SCRIPT, parseFacts, type HostFacts } from '../../src/engine/facts.js';
import { sectionedScript } from '../../src/engine/sections.js';
import { shq } from '../../src/ssh/quote.js';
import { sh } from '../engine/support.js';

/** /etc/os-release as these distributions ship it (trimmed of URLs that add nothing). */
export const OS_RELEASES = {
  centos7: `NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"

CENTOS_MANTISBT_PROJECT="CentOS-7"
REDHAT_SUPPORT_PRODUCT="centos"
REDHAT_SUPPORT_PRODUCT_VERSION="7"
`,
  rocky93: `NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.3"
`,
  alma8: `NAME="AlmaLinux"
VERSION="8.9 (Midnight Oncilla)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.9"
PLATFORM_ID="platform:el8"
PRETTY_NAME="AlmaLinux 8.9 (Midnight Oncilla)"
ANSI_COLOR="0;34"
CPE_NAME="cpe:/o:almalinux:almalinux:8::baseos"
`,
  rhel9: `NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9"
`,
  debian12: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`,
  ubuntu2204: `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
`,
  debian13: `PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
DEBIAN_VERSION_FULL=13.2
ID=debian
HOME_URL="https://www.debian.org/"
`,
  ubuntu2404: `PRETTY_NAME="Ubuntu 24.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.3 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
`,
  ubuntu2604: `PRETTY_NAME="Ubuntu 26.04 LTS"
NAME="Ubuntu"
VERSION_ID="26.04"
VERSION="26.04 LTS (Resolute Raccoon)"
VERSION_CODENAME=resolute
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=resolute
LOGO=ubuntu-logo
`,
  rocky10: `NAME="Rocky Linux"
VERSION="10.0 (Red Quartz)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="10.0"
PLATFORM_ID="platform:el10"
PRETTY_NAME="Rocky Linux 10.0 (Red Quartz)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:10::baseos"
SUPPORT_END="2035-05-31"
`,
  alma10: `NAME="AlmaLinux"
VERSION="10.0 (Purple Lion)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="10.0"
PLATFORM_ID="platform:el10"
PRETTY_NAME="AlmaLinux 10.0 (Purple Lion)"
ANSI_COLOR="0;34"
CPE_NAME="cpe:/o:almalinux:almalinux:10::baseos"
`,
  alpine: `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
`,
  fedora40: `NAME="Fedora Linux"
VERSION="40 (Server Edition)"
ID=fedora
VERSION_ID=40
VERSION_CODENAME=""
PLATFORM_ID="platform:f40"
PRETTY_NAME="Fedora Linux 40 (Server Edition)"
REDHAT_BUGZILLA_PRODUCT_VERSION=40
VARIANT_ID=server
`,
  debianSid: `PRETTY_NAME="Debian GNU/Linux trixie/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=trixie
ID=debian
HOME_URL="https://www.debian.org/"
`,
} as const;

export type OsName = keyof typeof OS_RELEASES;

export interface FakeHost {
  machine?: string;
  init?: string;
  packageManager?: 'dnf' | 'yum' | 'apt-get' | '';
  addresses?: string;
}

const MANAGERS: Record<OsName, FakeHost['packageManager']> = {
  centos7: 'yum',
  rocky93: 'dnf',
  alma8: 'dnf',
  rhel9: 'dnf',
  debian12: 'apt-get',
  ubuntu2204: 'apt-get',
  debian13: 'apt-get',
  ubuntu2404: 'apt-get',
  ubuntu2604: 'apt-get',
  rocky10: 'dnf',
  alma10: 'dnf',
  alpine: '',
  fedora40: 'dnf',
  debianSid: 'apt-get',
};

/**
 * The facts of a host running `os`: FACTS_SCRIPT's sections, each snippet replaced by one that
 * prints the fixture, run with sh and parsed as the engine parses a real reply.
 */
export function factsFor(os: OsName, host: FakeHost = {}): HostFacts {
  const keys = [...FACTS_SCRIPT.matchAll(/%s\\n' '([^']+)'/g)].map((m) => m[1]!);
  const values: Record<string, string> = {
    'os-release': OS_RELEASES[os],
    machine: host.machine ?? 'x86_64',
    kernel: '5.14.0-362.8.1.el9_3.x86_64',
    hostname: 'node1',
    init: host.init ?? 'systemd',
    addresses: host.addresses ?? '127.0.0.1/8\n10.0.0.11/24',
    'package-manager': host.packageManager ?? MANAGERS[os] ?? '',
  };
  return parseFacts(sh(sectionedScript(keys.map((k) => [k, `printf '%s\\n' ${shq(values[k] ?? '')}`] as const))));
}
