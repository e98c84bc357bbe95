import { change, script } from '../change.js';
import type { SwapOffResource } from '../resource.js';
import type { Kind } from './kind.js';

/**
 * The kubelet refuses to run with swap on. Swap goes off now (swapoff -a) and stays off after a
 * reboot: the fstab lines that enable it are commented out, exactly the lines the plan showed.
 */
export const swapOffKind: Kind<SwapOffResource> = {
  // One awk for both files: the first file's lines are the swaps in use (after its header), FNR the line in the file at hand.
  probe: () => `awk 'FNR == 1 { file++ } file == 1 { if (FNR > 1) print "active", $1; next } !/^[[:space:]]*#/ && $3 == "swap" { print "fstab", FNR, $0 }' /proc/swaps /etc/fstab`,
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
