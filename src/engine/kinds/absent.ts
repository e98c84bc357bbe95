import { shJoin, shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import { fileRecordId, forgetEntriesScript } from '../host-record.js';
import { INSTALL_TIMEOUT_SEC } from './package.js';
import type { AbsentResource } from '../resource.js';
import type { Kind } from './kind.js';
import { parseUnitState, unitStateProbe } from './unit-state.js';

/** Unit files live here: removing one reloads systemd before services are touched. */
const UNIT_DIRS = ['/etc/systemd/system/', '/usr/lib/systemd/system/', '/lib/systemd/system/'];

/**
 * What must not be on a host. All of a host's absent resources are probed by one snippet of shell
 * builtins (a file's or folder's existence, whether a folder is empty), plus the unit states the
 * probe reads for every unit at once and one package query for all packages. Each resource's
 * observed text is one line: `present`, `absent`, `kept` (a folder that holds something), a unit's
 * state, or the package query's lines.
 */
export const absentKind: Kind<AbsentResource> = {
  units: (r) => (r.of === 'service' ? [r.name] : []),
  batch: {
    probe: (rs, ctx) => {
      const packages = rs.filter((r) => r.of === 'package').flatMap((r) => r.name.split(','));
      return [...rs.map((r, i) => `printf '%s ' ${i}; ${probeOne(r)}`), ...(packages.length ? [`echo '@@packages'; ${ctx.packages.probePackages(packages)}`] : [])].join('\n');
    },
    split: (output, rs) => {
      const [lines, packages = ''] = output.split('@@packages\n');
      const byIndex = new Map((lines ?? '').split('\n').flatMap((l) => (/^\d+ /.test(l) ? [[Number(l.slice(0, l.indexOf(' '))), l.slice(l.indexOf(' ') + 1)] as const] : [])));
      return rs.map((r, i) => (r.of === 'package' ? packages : (byIndex.get(i) ?? '')));
    },
  },
  diff: (r, observed, id, ctx) => {
    switch (r.of) {
      case 'file':
        if (observed.trim() !== 'present') return undefined;
        return change(r, id, `remove ${r.name}`, [script(`rm -f -- ${shq(r.name)}\n${forgetEntriesScript([fileRecordId(r.name)])}`)], {
          restarts: r.restarts ?? [],
          reloadsSystemd: UNIT_DIRS.some((d) => r.name.startsWith(d)),
        });
      case 'directory':
        if (r.recursive) {
          // A whole tree goes: never a relative path, the root, or one that climbs out of where it says.
          if (!/^\/[^/]/.test(r.name) || r.name.split('/').includes('..')) throw new Error(`refusing to remove ${r.name} recursively`);
          if (observed.trim() === 'absent') return undefined;
          return change(r, id, `remove ${r.name} and everything in it`, [script(shJoin(['rm', '-rf', '--one-file-system', '--', r.name]))]);
        }
        if (observed.trim() !== 'present') return undefined;
        return change(r, id, `remove empty directory ${r.name}`, [script(shJoin(['rmdir', '--', r.name]))]);
      case 'service': {
        const state = parseUnitState(observed);
        if (!state.loaded || (!state.active && !state.disableable)) return undefined;
        const how = state.disableable ? 'disable --now' : 'stop';
        return change(r, id, `${state.disableable ? 'stop and disable' : 'stop'} ${r.name}`, [script(`systemctl ${how} -- ${shq(r.name)}`)], { startsOrStops: r.name });
      }
      case 'package': {
        const installed = new Set(observed.split('\n').map((l) => l.trim().split(/\s+/)[0]));
        const present = r.name.split(',').filter((n) => installed.has(n));
        if (present.length === 0) return undefined;
        return change(r, id, `remove package${present.length === 1 ? '' : 's'} ${present.join(', ')} with ${ctx.packages.packageManager}`, [script(ctx.packages.removePackages(present))], {
          timeoutSec: INSTALL_TIMEOUT_SEC,
        });
      }
    }
  },
};

function probeOne(r: AbsentResource): string {
  const p = shq(r.name);
  switch (r.of) {
    case 'file':
      return `if [ -e ${p} ] || [ -L ${p} ]; then echo present; else echo absent; fi`;
    case 'directory': {
      // Empty (no entry, dot files included, none but those the run removes first) or not: globs, no
      // process. A folder that holds something else stays.
      const removed = r.emptiedBy?.length ? `case "$ks_f" in ${r.emptiedBy.map(shq).join('|')}) continue ;; esac; ` : '';
      return `if [ -d ${p} ]; then ks_e=present; for ks_f in ${p}/* ${p}/.[!.]* ${p}/..?*; do [ -e "$ks_f" ] || [ -L "$ks_f" ] || continue; ${removed}ks_e=kept; break; done; echo $ks_e; else echo absent; fi`;
    }
    case 'service':
      return unitStateProbe(r.name);
    case 'package':
      return 'echo package';
  }
}
