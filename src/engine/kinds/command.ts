import { change, script } from '../change.js';
import type { CommandResource } from '../resource.js';
import type { Kind } from './kind.js';

/** The last resort: a command that runs only when its check says it is needed. */
export const commandKind: Kind<CommandResource> = {
  probe: (r) => `( ${r.check} ) >/dev/null 2>&1; echo $?`,
  diff: (r, observed, id) =>
    observed.trim() === '0'
      ? undefined
      : change(r, id, r.description, [script(r.run)], {
          ...(r.failureHint ? { failureHint: r.failureHint } : {}),
          ...(r.afterServices ? { stage: 'services' as const } : {}),
          ...(r.timeoutSec ? { timeoutSec: r.timeoutSec } : {}),
        }),
};
