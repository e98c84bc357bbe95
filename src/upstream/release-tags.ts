import type { Project } from './components.js';
import { compareVersions, mustParseVersion, parseVersion, type Version } from './version.js';

/**
 * Release tags that carry a packaging suffix after the version. flannel's CNI plugin tags each
 * build of a CNI plugins release `v1.9.1-flannel1`, `v1.9.1-flannel2` (flannel-io/cni-plugin's
 * tags): the suffix is part of what the user chooses, not something kubestrap may assume. Its tags
 * up to v1.2.0 had none; every later release has one, so a bare version there names no release.
 */
interface TagSuffix {
  pattern: RegExp;
  /** Versions after this one are only tagged with a suffix. */
  bareUpTo: Version;
}

const TAG_SUFFIXES: Partial<Record<Project, TagSuffix>> = {
  'flannel-cni-plugin': { pattern: /^-flannel\d+$/, bareUpTo: mustParseVersion('v1.2.0') },
};

/**
 * A project's version as its release tags write it: MAJOR.MINOR.PATCH, plus the project's suffix
 * where its tags have one. `tag` is the whole release tag; the numbers are the version's.
 */
export function parseProjectVersion(project: Project, value: string): Version | undefined {
  const suffix = TAG_SUFFIXES[project];
  if (!suffix) return parseVersion(value);
  const m = /^(v?\d+\.\d+\.\d+)(-.+)?$/.exec(value);
  const version = m ? parseVersion(m[1]!) : undefined;
  if (!m || !version) return undefined;
  const tail = m[2] ?? '';
  const tagged = tail === '' ? compareVersions(version, suffix.bareUpTo) <= 0 : suffix.pattern.test(tail);
  return tagged ? { ...version, tag: `${version.tag}${tail}` } : undefined;
}
