import { change, script } from '../change.js';
import type { SwapOffResource } from '../resource.js';
import type { Kind } from './kind.js';

/**
 * The kubelet refuses to run with swap on. Swap goes off now (swapoff -a) and stays off after a
 * reboot: the fstab lines that enable it are commented out, exactly the lines the plan showed.
 */
export const swapOffKind: Kind<SwapOffResource> = {
  // Both small files by the shell's read, no process: the swaps in use (after /proc/swaps' header),
  // then each fstab line of type swap that is not a comment, with its line number.
  probe: () =>
    [
      '{ read -r ks_l; while read -r ks_dev ks_rest; do echo "active $ks_dev"; done; } < /proc/swaps',
      'ks_n=0',
      'while IFS= read -r ks_l || [ -n "$ks_l" ]; do',
      '  ks_n=$((ks_n + 1)); set -f; set -- $ks_l; set +f',
      '  case $1 in "#"*) continue ;; esac',
      '  [ "$3" = swap ] && printf \'fstab %s %s\\n\' "$ks_n" "$ks_l"',
      'done < /etc/fstab',
    ].join('\n'),
  diff: (r, observed, id) => {
    const lines = observed.split('\n').filter(Boolean);
    const active = lines.filter((l) => l.startsWith('active ')).map((l) => l.slice('active '.length));
    const fstab = lines
      .filter((l) => l.startsWith('fstab '))
      .map((l) => /^fstab (\d+) (.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ line: Number(m[1]), text: m[2]! }));
    const steps: string[] = [];
    const actions: string[] = [];
    if (active.length) {
      actions.push(`turn off ${active.join(', ')}`);
      steps.push('swapoff -a');
    }
    if (fstab.length) {
      actions.push(`comment out ${fstab.length} swap line${fstab.length === 1 ? '' : 's'} in /etc/fstab`);
      steps.push(`sed -i ${fstab.map((f) => `-e '${f.line}s/^/# kubestrap: swap off for the kubelet: /'`).join(' ')} /etc/fstab`);
    }
    if (steps.length === 0) return undefined;
    return change(r, id, `swap: ${actions.join(', ')}`, steps.map(script), {
      detail: fstab.flatMap((f) => [`-${f.text}`, `+# kubestrap: swap off for the kubelet: ${f.text}`]),
      // systemd generates swap units from fstab; reload so they go away with the lines.
      reloadsSystemd: fstab.length > 0,
    });
  },
};
