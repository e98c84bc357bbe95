import { defineFact, readFact, type HostFacts } from '../engine/facts.js';
import { unlessPhaseRecords } from '../engine/host-record.js';
import { shq } from '../ssh/quote.js';

/**
 * The OS settings the os phase changes, as the host had them before kubestrap first changed them:
 * SELinux's mode at boot (/etc/selinux/config) and which firewalls were enabled at boot. The os
 * phase's record keeps them from its first run on (later runs see what kubestrap made), and
 * `reset --restore-os` puts them back for the next boot (never now: a firewall started by a reset
 * could cut the session that runs it). Swap needs no record: its fstab lines carry kubestrap's mark.
 */
export interface OsOriginal {
  /** SELINUX= of /etc/selinux/config; absent where the host has no SELinux. */
  selinux?: string;
  /** Firewall services enabled at boot. */
  firewalls: string[];
}

const FIREWALLS = ['firewalld', 'ufw'];

/**
 * What the host has now: before the os phase's first change, that is the original. Read only while
 * the os phase's record has no original yet (osOriginal prefers the record): each `systemctl` is
 * about 10 ms of the host's CPU, on every run otherwise.
 */
export const OS_SETTINGS_FACT = defineFact(
  'os-settings',
  unlessPhaseRecords(
    'os',
    'original',
    [
      `{ while IFS= read -r ks_l || [ -n "$ks_l" ]; do case $ks_l in SELINUX=*) printf 'selinux %s\\n' "\${ks_l#SELINUX=}"; break ;; esac; done; } < /etc/selinux/config`,
      `for s in ${FIREWALLS.join(' ')}; do [ "$(systemctl is-enabled "$s" 2>/dev/null)" = enabled ] && echo "firewall $s"; done; :`,
    ].join('\n'),
  ),
  (out): OsOriginal => {
    const lines = (out ?? '').split('\n');
    const selinux = lines
      .find((l) => l.startsWith('selinux '))
      ?.slice('selinux '.length)
      .trim();
    return { ...(selinux ? { selinux } : {}), firewalls: lines.filter((l) => l.startsWith('firewall ')).map((l) => l.slice('firewall '.length).trim()) };
  },
);

/** The original settings for the record: as recorded by an earlier run, else as the host has them now. */
export function osOriginal(facts: HostFacts): OsOriginal {
  const recorded = facts.record.get('os')?.fields.original;
  if (recorded && typeof recorded === 'object' && Array.isArray((recorded as OsOriginal).firewalls)) return recorded as OsOriginal;
  return readFact(facts, OS_SETTINGS_FACT);
}

/** The swap lines the os phase commented out carry this mark (src/engine/kinds/swap-off.ts). */
export const SWAP_MARK = '# kubestrap: swap off for the kubelet: ';

/** Shell that restores `original` for the next boot, and the swap lines; each step only where it differs. */
export function restoreOsScript(original: OsOriginal | undefined): { check: string; run: string } {
  const selinux = original?.selinux;
  const checks = [
    `! grep -qF ${shq(SWAP_MARK)} /etc/fstab`,
    ...(selinux ? [`[ "$(sed -n 's/^SELINUX=//p' /etc/selinux/config 2>/dev/null | head -n 1)" = ${shq(selinux)} ]`] : []),
    ...(original?.firewalls ?? []).map((s) => `[ "$(systemctl is-enabled ${shq(s)} 2>/dev/null)" = enabled ]`),
  ];
  const runs = [
    `sed -i ${shq(`s/^${SWAP_MARK.replace(/[/.*[\]^$\\]/g, '\\$&')}//`)} /etc/fstab`,
    ...(selinux ? [`sed -i ${shq(`s/^SELINUX=.*/SELINUX=${selinux}/`)} /etc/selinux/config`] : []),
    ...(original?.firewalls ?? []).map((s) => `systemctl enable ${shq(s)}`),
  ];
  return { check: checks.join(' && '), run: runs.join('\n') };
}
