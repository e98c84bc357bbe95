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

export const sysctlKind: Kind<SysctlResource> = {
  probe: (r) => {
    const p = shq(procPath(r.key));
    // cat, not the shell's read: dash reads a byte at a time, and integer sysctls answer nothing past offset 0.
    return `if [ -e ${p} ]; then cat ${p}; if [ -w ${p} ]; then echo writable; else echo read-only; fi; else echo absent; fi`;
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
