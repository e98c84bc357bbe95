import { shJoin, shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { SysctlResource } from '../resource.js';
import type { Kind } from './kind.js';

/** sysctl keys use dots, or slashes when a name holds a dot (a VLAN interface: net/ipv4/conf/eth0.100/rp_filter). */
export function procPath(key: string): string {
  return `/proc/sys/${key.includes('/') ? key : key.replace(/\./g, '/')}`;
}

/** sysctl prints multi-value settings with tabs; compare them word by word. */
function normalize(value: string): string {
  return value.trim().split(/\s+/).join(' ');
}

/** Between the keys' states and their values in the probe's output. */
const VALUES_MARKER = '@@kubestrap-sysctl-values';

/**
 * All of a host's keys are probed together: whether each exists and may be written (shell tests),
 * and every value by one grep, which prints each line of each file after its name. Not the
 * shell's read: dash reads a byte per system call, and integer sysctls answer nothing past offset
 * 0; nor a cat each. Each key's observed text: its value's lines, then `writable` or `read-only`;
 * or `absent`.
 */
export const sysctlKind: Kind<SysctlResource> = {
  batch: {
    probe: (rs) =>
      [
        ...rs.map((r, i) => {
          const p = shq(procPath(r.key));
          return `if [ ! -e ${p} ]; then echo '${i} absent'; elif [ -w ${p} ]; then echo '${i} writable'; else echo '${i} read-only'; fi`;
        }),
        `echo '${VALUES_MARKER}'`,
        `grep -H -a '' -- ${[...new Set(rs.map((r) => shq(procPath(r.key))))].join(' ')}`,
      ].join('\n'),
    split: (output, rs) => {
      const [states = '', values = ''] = output.split(`${VALUES_MARKER}\n`);
      const state = new Map(states.split('\n').flatMap((l) => (/^\d+ /.test(l) ? [[Number(l.slice(0, l.indexOf(' '))), l.slice(l.indexOf(' ') + 1)] as const] : [])));
      const lines = values.split('\n');
      return rs.map((r, i) => {
        const own = state.get(i) ?? 'absent';
        if (own === 'absent') return own;
        const prefix = `${procPath(r.key)}:`;
        return [...lines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length)), own].join('\n');
      });
    },
  },
  diff: (r, observed, id) => {
    const lines = observed.split('\n');
    const absent = lines[0] === 'absent';
    const current = absent ? undefined : normalize(lines.slice(0, -1).join(' '));
    const desired = normalize(r.value);
    if (current === desired) return undefined;
    const readOnly = lines.at(-1) === 'read-only';
    return change(r, id, `sysctl ${r.key}: ${current ?? '(not present yet)'} → ${desired}`, [script(shJoin(['sysctl', '-w', '--', `${r.key}=${desired}`]))], {
      ...(readOnly ? { warning: `${procPath(r.key)} is read-only on this host: the kernel will refuse the new value` } : {}),
      failureHint: readOnly
        ? `this host may not change ${r.key} (read-only /proc/sys, as in a container); remove it from the sysctl settings or set it where the kernel is managed`
        : `check that ${r.key} exists on this kernel (a module may have to be loaded first)`,
    });
  },
};
