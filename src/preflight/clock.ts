import { HostError } from '../errors.js';
import type { ClusterContext } from '../phases/context.js';

/** More than this between a host's clock and the controller's breaks certificates (not yet valid, or expired). */
export const MAX_CLOCK_SKEW_MS = 30_000;

/** Hosts whose clock is off by more than MAX_CLOCK_SKEW_MS. */
export function clockProblems(ctx: ClusterContext): HostError[] {
  return ctx.hosts
    .filter(({ facts }) => Math.abs(facts.clockSkewMs) > MAX_CLOCK_SKEW_MS)
    .map(({ host, facts }) => {
      const seconds = Math.round(facts.clockSkewMs / 1000);
      return new HostError(
        host.name,
        `its clock is ${Math.abs(seconds)} s ${seconds > 0 ? 'ahead of' : 'behind'} this machine's (more than ${MAX_CLOCK_SKEW_MS / 1000} s): certificates would be refused as not yet valid or expired`,
        {},
        'synchronise the clocks (chrony or systemd-timesyncd against one NTP source on every host and here), then re-run',
      );
    });
}
