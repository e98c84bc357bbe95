/**
 * What a lab host runs. `debian` is the lab's Debian 12 base; `el7` and `el9` add to it the EL tools
 * Debian packages (rpm, dnf, selinux-utils, policycoreutils) and the identity of CentOS 7 or Rocky
 * Linux 9, so that every command kubestrap's EL adapter sends runs the real tool against the lab's
 * real RPM repository. `ubuntu` is the Debian base with Ubuntu 24.04's identity and name resolution
 * as systemd-resolved leaves it (ubuntu.ts). The userland and kernel stay Debian's (see the lab README).
 */
export const FLAVOURS = ['debian', 'el7', 'el9', 'ubuntu'] as const;
export type Flavour = (typeof FLAVOURS)[number];
export const EL_FLAVOURS = ['el7', 'el9'] as const satisfies readonly Flavour[];
export type ElFlavour = (typeof EL_FLAVOURS)[number];

export function isElFlavour(f: Flavour): f is ElFlavour {
  return (EL_FLAVOURS as readonly Flavour[]).includes(f);
}

export function parseFlavour(text: string): Flavour {
  const f = FLAVOURS.find((x) => x === text);
  if (!f) throw new Error(`unknown host flavour '${text}': use one of ${FLAVOURS.join(', ')}`);
  return f;
}

/** One EL release as its release package defines it: the files and provides dnf and kubestrap read. */
export interface ElRelease {
  /** What dnf substitutes for $releasever: the release package's `system-release(releasever)`. */
  releasever: '7' | '9';
  /** The command that installs packages; the other one does not exist on the host. */
  packageManager: 'yum' | 'dnf';
  releasePackage: { name: string; version: string; release: string; summary: string };
  /** /etc/<file>: the distribution's own release file; redhat-release and system-release link to it. */
  releaseFile: string;
  releaseLine: string;
  osRelease: string;
  cpe: string;
}

export const EL_RELEASES: Record<ElFlavour, ElRelease> = {
  el7: {
    releasever: '7',
    packageManager: 'yum',
    releasePackage: { name: 'centos-release', version: '7', release: '9.2009.1.el7.centos', summary: 'CentOS Linux release file' },
    releaseFile: 'centos-release',
    releaseLine: 'CentOS Linux release 7.9.2009 (Core)',
    cpe: 'cpe:/o:centos:centos:7',
    osRelease: [
      'NAME="CentOS Linux"',
      'VERSION="7 (Core)"',
      'ID="centos"',
      'ID_LIKE="rhel fedora"',
      'VERSION_ID="7"',
      'PRETTY_NAME="CentOS Linux 7 (Core)"',
      'ANSI_COLOR="0;31"',
      'CPE_NAME="cpe:/o:centos:centos:7"',
      'HOME_URL="https://www.centos.org/"',
      'BUG_REPORT_URL="https://bugs.centos.org/"',
      '',
      'CENTOS_MANTISBT_PROJECT="CentOS-7"',
      'CENTOS_MANTISBT_PROJECT_VERSION="7"',
      'REDHAT_SUPPORT_PRODUCT="centos"',
      'REDHAT_SUPPORT_PRODUCT_VERSION="7"',
      '',
    ].join('\n'),
  },
  el9: {
    releasever: '9',
    packageManager: 'dnf',
    releasePackage: { name: 'rocky-release', version: '9.6', release: '1.2.el9', summary: 'Rocky Linux release files' },
    releaseFile: 'rocky-release',
    releaseLine: 'Rocky Linux release 9.6 (Blue Onyx)',
    cpe: 'cpe:/o:rocky:rocky:9::baseos',
    osRelease: [
      'NAME="Rocky Linux"',
      'VERSION="9.6 (Blue Onyx)"',
      'ID="rocky"',
      'ID_LIKE="rhel centos fedora"',
      'VERSION_ID="9.6"',
      'PLATFORM_ID="platform:el9"',
      'PRETTY_NAME="Rocky Linux 9.6 (Blue Onyx)"',
      'ANSI_COLOR="0;32"',
      'LOGO="fedora-logo-icon"',
      'CPE_NAME="cpe:/o:rocky:rocky:9::baseos"',
      'HOME_URL="https://rockylinux.org/"',
      'BUG_REPORT_URL="https://bugs.rockylinux.org/"',
      'SUPPORT_END="2032-05-31"',
      'ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"',
      'ROCKY_SUPPORT_PRODUCT_VERSION="9.6"',
      'REDHAT_SUPPORT_PRODUCT="Rocky Linux"',
      'REDHAT_SUPPORT_PRODUCT_VERSION="9.6"',
      '',
    ].join('\n'),
  },
};
