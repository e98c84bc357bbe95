import { shJoin } from '../ssh/quote.js';

/**
 * Restarts owed to services whose inputs changed. They are written on the host before the inputs
 * change and removed once the restart succeeded, so a run that dies in between leaves the debt
 * behind: the next run (and its plan) still restarts those services, although their files no
 * longer differ.
 */
export const PENDING_RESTARTS_FILE = '/var/lib/kubestrap/pending-restarts';

export function recordPendingScript(services: readonly string[]): string {
  return `mkdir -p /var/lib/kubestrap && printf '%s\\n' ${shJoin(services)} >> ${PENDING_RESTARTS_FILE}`;
}

export function clearPendingScript(services: readonly string[]): string {
  // Keep lines for services we did not restart; remove the file when nothing is left.
  const drop = services.map((s) => `-e ${shJoin([s])}`).join(' ');
  return `if [ -f ${PENDING_RESTARTS_FILE} ]; then grep -v -x -F ${drop} ${PENDING_RESTARTS_FILE} > ${PENDING_RESTARTS_FILE}.tmp; if [ -s ${PENDING_RESTARTS_FILE}.tmp ]; then mv -f ${PENDING_RESTARTS_FILE}.tmp ${PENDING_RESTARTS_FILE}; else rm -f ${PENDING_RESTARTS_FILE} ${PENDING_RESTARTS_FILE}.tmp; fi; fi`;
}
