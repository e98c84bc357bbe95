import { shJoin, shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { DirectoryResource } from '../resource.js';
import { octal, parseOwnership, type Kind } from './kind.js';

export const directoryKind: Kind<DirectoryResource> = {
  probe: (r) => `if [ -d ${shq(r.path)} ]; then stat -c '%a %U %G' ${shq(r.path)}; else echo absent; fi`,
  diff: (r, observed, id) => {
    const apply = script(
      [shJoin(['mkdir', '-p', '--', r.path]), shJoin(['chown', '--', `${r.owner}:${r.group}`, r.path]), shJoin(['chmod', '--', octal(r.mode), r.path])].join(' && '),
    );
    const target = `${octal(r.mode)} ${r.owner}:${r.group}`;
    if (observed.trim() === 'absent') return change(r, id, `create directory ${r.path} (${target})`, [apply]);
    const current = parseOwnership(observed);
    if (current && current.mode === r.mode && current.owner === r.owner && current.group === r.group) return undefined;
    return change(r, id, `set directory ${r.path} to ${target}`, [apply]);
  },
};
