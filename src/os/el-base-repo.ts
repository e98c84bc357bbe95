import type { PackageRepo } from './adapter.js';
import { yumRepoFile } from './el.js';

/**
 * EL 7's own repositories (base, updates, extras) from a vault or local mirror. CentOS 7 reached its
 * end of life on 30 June 2024: mirrorlist.centos.org, which CentOS-Base.repo names, is gone, and its
 * trees live on at vault.centos.org/7.9.2009/{os,updates,extras}/$basearch/. docker-ce needs
 * container-selinux, which only extras has. EL_BASE_REPO names the mirror; kubestrap then writes
 * CentOS-Base.repo itself, under the file name and repository ids the release uses, so the mirror
 * replaces the dead entries instead of sitting next to them (yum refuses an id defined twice). The
 * file is kubestrap's from then on: emptying EL_BASE_REPO removes it like any file it wrote.
 */
export const EL_BASE_REPO_FILE = 'CentOS-Base';

const EL7_TREES: ReadonlyArray<{ id: string; tree: string; title: string }> = [
  { id: 'base', tree: 'os', title: 'Base' },
  { id: 'updates', tree: 'updates', title: 'Updates' },
  { id: 'extras', tree: 'extras', title: 'Extras' },
];

/** The key centos-release installs: the mirror serves the release's own signed packages. */
const EL7_GPG_KEY = 'file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7';

/** EL 7's repositories below `mirror` (https://vault.centos.org/7.9.2009), as the package manager reads them. */
export function el7BaseRepos(mirror: string): PackageRepo[] {
  const base = mirror.replace(/\/+$/, '');
  return EL7_TREES.map(({ id, tree, title }) => ({ id, fileName: EL_BASE_REPO_FILE, name: `CentOS-7 - ${title} (${base})`, baseUrl: `${base}/${tree}/$basearch/`, gpgKey: EL7_GPG_KEY }));
}

/** The CentOS-Base.repo that points EL 7 at `mirror`. */
export function el7BaseRepoFile(mirror: string): { path: string; content: string } {
  const body = el7BaseRepos(mirror).map(yumRepoFile).join('\n');
  return { path: `/etc/yum.repos.d/${EL_BASE_REPO_FILE}.repo`, content: `# Managed by kubestrap: EL_BASE_REPO in config.properties.\n${body}` };
}
