import type { Project } from './components.js';
import { parseVersion, type Version } from './version.js';

/**
 * Release tags that carry a packaging suffix after the version. flannel's CNI plugin tags each
 * build of a CNI plugins release `v1.9.1-flannel1`, `v1.9.1-flannel2` (flannel-io/cni-plugin's
 * tags): the suffix is part of what the user chooses, not something kubestrap may assume.
 */
const TAG_SUFFIXES: Partial<Record<Project, RegExp>> = {
  'flannel-cni-plugin': /^-flannel\d+$/,
};

/**
 * A project's version as its release tags write it: MAJOR.MINOR.PATCH, plus the project's suffix
 * where it has one (optional: older flannel CNI plugin releases had none). `tag` is the whole
 * release tag; the numbers are the version's.
 */
export function parseProjectVersion(project: Project, value: string): Version | undefined {
  const suffix = TAG_SUFFIXES[project];
  const m = suffix ? /^(v?\d+\.\d+\.\d+)(-.+)?$/.exec(value) : undefined;
  if (!m) return parseVersion(value);
  const version = parseVersion(m[1]!);
  const tail = m[2] ?? '';
  if (!version || (tail !== '' && !suffix!.test(tail))) return undefined;
  return { ...version, tag: `${version.tag}${tail}` };
}
