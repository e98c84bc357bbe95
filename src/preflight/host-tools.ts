import { HostError } from '../errors.js';
import { hostTool, installedByOsPhase, missingTools, toolInstall } from '../os/host-tools.js';
import type { ClusterContext, ClusterHost } from '../phases/context.js';

/** The phase that installs the `installed` tools (src/os/host-tools.ts). */
const INSTALLING_PHASE = 'os';

/**
 * Hosts that lack a tool a phase of this run will run there, and that no earlier phase of the run
 * installs: the OS phase installs the `installed` ones, so they are missing for real only in a run
 * without it; nothing installs the `checked` ones. One problem per host, naming each tool, what it
 * is for, and the packages and command that bring them.
 */
export function toolProblems(ctx: ClusterContext, needsOf: (h: ClusterHost) => readonly string[]): HostError[] {
  const osPhaseRuns = ctx.phases === undefined || ctx.phases.includes(INSTALLING_PHASE);
  return ctx.hosts.flatMap((h) => {
    const missing = missingTools(h.facts, needsOf(h)).filter((c) => !(osPhaseRuns && installedByOsPhase(c)));
    if (missing.length === 0) return [];
    const install = toolInstall(h.os.adapter, missing);
    const listed = missing.map((c) => `${c} (${hostTool(c).usedFor})`).join(', ');
    const osPhase = missing.some(installedByOsPhase) ? `, or run the ${INSTALLING_PHASE} phase, which installs them` : '';
    return [
      new HostError(
        h.host.name,
        `lacks ${missing.length === 1 ? 'a command' : 'commands'} kubestrap runs there: ${listed}`,
        { resource: 'host tools' },
        `install ${install.packages.join(', ')} on ${h.host.name} (${install.command})${osPhase}, then run again`,
      ),
    ];
  });
}
