import { shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { CommandResource, ListedCheck } from '../resource.js';
import type { Kind } from './kind.js';

/**
 * The last resort: a command that runs only when its check says it is needed. All of a host's
 * checks are one snippet: each check in a subshell of its own (it may exit or set variables), and
 * each listing that checks share (ListedCheck) run once into a variable that builtins search.
 * Each resource's observed text is its check's exit status.
 */
export const commandKind: Kind<CommandResource> = {
  batch: {
    probe: (rs) => {
      const listings = [...new Set(rs.flatMap((r) => (typeof r.check === 'string' ? [] : [r.check.list])))];
      return [
        ...(listings.length ? ["ks_nl='", "'"] : []),
        ...listings.map((list, j) => `ks_list${j}=$( ${list} ) || ks_list${j}=`),
        ...rs.map((r, i) => `printf '%s ' ${i}; ${typeof r.check === 'string' ? `( ${r.check} ) >/dev/null 2>&1; echo $?` : listedCheck(r.check, listings.indexOf(r.check.list))}`),
      ].join('\n');
    },
    split: (output, rs) => {
      const byIndex = new Map(output.split('\n').flatMap((l) => (/^\d+ /.test(l) ? [[Number(l.slice(0, l.indexOf(' '))), l.slice(l.indexOf(' ') + 1)] as const] : [])));
      return rs.map((_, i) => byIndex.get(i) ?? '');
    },
  },
  diff: (r, observed, id) =>
    observed.trim() === '0'
      ? undefined
      : change(r, id, r.description, [script(r.run)], {
          ...(r.failureHint ? { failureHint: r.failureHint } : {}),
          ...(r.afterServices ? { stage: 'services' as const } : {}),
          ...(r.timeoutSec ? { timeoutSec: r.timeoutSec } : {}),
        }),
};

/** 0 when listing `j`'s output has the line, else 1: as `list | grep -qxF line` exits. */
function listedCheck(check: ListedCheck, j: number): string {
  return `case "$ks_nl$ks_list${j}$ks_nl" in *"$ks_nl"${shq(check.line)}"$ks_nl"*) echo 0 ;; *) echo 1 ;; esac`;
}
