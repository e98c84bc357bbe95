import { change, script } from '../change.js';
import type { SelinuxResource } from '../resource.js';
import type { Kind } from './kind.js';

const CONFIG = '/etc/selinux/config';

/**
 * SELinux permissive now (setenforce) and after reboots (/etc/selinux/config). A host where SELinux
 * is disabled already satisfies it now: permissive means "not enforcing", and enabling it would need
 * a relabel and a reboot; its config file is still set to permissive, so a boot with SELinux on does
 * not enforce. The file is read as libselinux reads it: the line starting `SELINUX=`, the value in
 * any case.
 */
export const selinuxKind: Kind<SelinuxResource> = {
  // The config's SELINUX= lines by the shell's read (a host without SELinux has no file: no process).
  probe: () =>
    `if command -v getenforce >/dev/null; then getenforce; else echo Disabled; fi\n{ while IFS= read -r ks_l || [ -n "$ks_l" ]; do case $ks_l in SELINUX=*) printf '%s\\n' "\${ks_l#SELINUX=}" ;; esac; done; } < ${CONFIG}`,
  diff: (r, observed, id) => {
    const [runtime = '', configured = ''] = observed.split('\n').map((l) => l.trim());
    const steps: string[] = [];
    const actions: string[] = [];
    if (runtime === 'Enforcing') {
      actions.push('permissive now');
      steps.push('setenforce 0');
    }
    if (configured.toLowerCase() === 'enforcing') {
      actions.push(`permissive in ${CONFIG}`);
      // sed -i writes a new file and renames it over the old one; through a link (EL 7's
      // /etc/sysconfig/selinux is one), not over it.
      steps.push(`sed -i --follow-symlinks 's/^SELINUX=.*/SELINUX=permissive/' ${CONFIG}`);
    }
    if (steps.length === 0) return undefined;
    return change(r, id, `SELinux: ${actions.join(', ')}`, steps.map(script));
  },
};
