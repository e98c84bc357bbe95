import type { ClusterContext, PhaseContext } from './context.js';
import type { FileResource } from '../engine/resource.js';
import { HostError } from '../errors.js';
import { el7BaseRepoFile } from '../os/el-base-repo.js';

/**
 * EL_BASE_REPO on the hosts it concerns (see src/os/el-base-repo.ts): EL 7's own repositories at a
 * vault or local mirror, written before the OS phase installs anything, since every install reads
 * them. A mirror named for another release would point nothing anywhere, so it is refused.
 */
const mirrorOf = (ctx: { host: { values: Record<string, string> } }) => ctx.host.values.EL_BASE_REPO ?? '';
const isEl7 = (ctx: Pick<PhaseContext, 'facts' | 'os'>) => ctx.os.adapter.family === 'el' && ctx.facts.os.versionId.split('.')[0] === '7';

export function elBaseRepoResources(ctx: PhaseContext): FileResource[] {
  const mirror = mirrorOf(ctx);
  if (!mirror || !isEl7(ctx)) return [];
  const file = el7BaseRepoFile(mirror);
  return [{ kind: 'file', path: file.path, content: file.content, mode: 0o644, owner: 'root', group: 'root', restarts: [] }];
}

export function elBaseRepoProblems(ctx: ClusterContext): HostError[] {
  return ctx.hosts
    .filter((h) => mirrorOf(h) && !isEl7(h))
    .map(
      (h) =>
        new HostError(
          h.host.name,
          `EL_BASE_REPO names a mirror of CentOS 7's repositories, and this host runs ${h.facts.os.prettyName}`,
          { resource: 'EL_BASE_REPO' },
          "set EL_BASE_REPO only for EL 7 hosts (per host, in the inventory's properties); point other releases' own .repo files at a mirror of theirs",
        ),
    );
}
