import { shJoin, shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { DirectoryResource } from '../resource.js';
import { octal, parseOwnership, type Kind } from './kind.js';

export const directoryKind: Kind<DirectoryResource> = {
  // One stat for all of a host's directories (following links, as mkdir -p, chown and chmod do).
  // Each directory's observed text: its `mode owner group`, or `absent` (missing, or not a folder).
  batch: {
    // LC_ALL=C: stat names the file type in the host's language otherwise.
    probe: (rs) => `LC_ALL=C stat -L -c '%F|%a %U %G|%n' -- ${rs.map((r) => shq(r.path)).join(' ')}`,
    split: (output, rs) => {
      const seen = new Map<string, string>();
      for (const line of output.split('\n')) {
        const m = /^directory\|([^|]*)\|(.*)$/.exec(line);
        if (m) seen.set(m[2]!, m[1]!);
      }
      return rs.map((r) => seen.get(r.path) ?? 'absent');
    },
  },
  diff: (r, observed, id) => {
    const apply = script([shJoin(['mkdir', '-p', '--', r.path]), shJoin(['chown', '--', `${r.owner}:${r.group}`, r.path]), shJoin(['chmod', '--', octal(r.mode), r.path])].join(' && '));
    const target = `${octal(r.mode)} ${r.owner}:${r.group}`;
    if (observed.trim() === 'absent') return change(r, id, `create directory ${r.path} (${target})`, [apply]);
    const current = parseOwnership(observed);
    if (current && current.mode === r.mode && current.owner === r.owner && current.group === r.group) return undefined;
    return change(r, id, `set directory ${r.path} to ${target}`, [apply]);
  },
};
