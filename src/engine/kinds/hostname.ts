import { shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { HostnameResource } from '../resource.js';
import type { Kind } from './kind.js';
import { readFile, readLine } from '../shell-read.js';

export const hostnameKind: Kind<HostnameResource> = {
  // The running name (what `hostname` prints) and the configured one, read without a process.
  probe: () => `${readLine('/proc/sys/kernel/hostname')}\n${readFile('/etc/hostname')}`,
  diff: (r, observed, id) => {
    const [running = '', configured = ''] = observed.split('\n').map((l) => l.trim());
    if (running === r.name && configured === r.name) return undefined;
    const name = shq(r.name);
    // hostnamectl needs systemd-hostnamed; without it, write /etc/hostname atomically and set it live.
    const apply = `if command -v hostnamectl >/dev/null && hostnamectl set-hostname -- ${name} 2>/dev/null; then :; else printf '%s\\n' ${name} > /etc/hostname.kubestrap-tmp && mv -f /etc/hostname.kubestrap-tmp /etc/hostname && hostname -- ${name}; fi`;
    return change(r, id, `hostname: ${running || '(none)'} → ${r.name}`, [script(apply)]);
  },
};
