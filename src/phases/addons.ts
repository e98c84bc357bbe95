import { posix } from 'node:path';
import { HOST_PATHS } from '../components/paths.js';
import type { ClusterAction, ClusterContext } from './context.js';
import type { Resource } from '../engine/resource.js';
import { shq } from '../ssh/quote.js';
import { fileResource } from './file-resource.js';
import { filesOf, namesWithRole, type Phase, type PhaseContext } from './phase.js';
import { clusterRecord, legacyRecordGone } from './record.js';
import { kubectl } from '../components/clients.js';

/** An addon's manifest on the masters, and an object whose absence means it must be applied again. */
interface Addon {
  name: string;
  file: string;
  /** `<namespace> <kind>/<name>` of an object the manifest creates. */
  witness: { namespace: string; object: string };
}

const ADDONS: readonly Addon[] = [{ name: 'coredns', file: `${HOST_PATHS.addonsDir}/coredns.yaml`, witness: { namespace: 'kube-system', object: 'deployment/coredns' } }];

/**
 * Cluster addons (CoreDNS) rendered from templates in units/ onto every master, and applied once
 * with kubectl on one of them: again only when the rendered manifest changed since it was last
 * applied (a copy kept in kubestrap's state on that master), or when its objects are gone.
 */
export const addonsPhase: Phase = {
  name: 'addons',
  title: 'cluster addons (CoreDNS)',
  appliesTo: (host) => host.roles.includes('master'),
  resources: ({ files }: PhaseContext): Resource[] => [
    { kind: 'directory', path: HOST_PATHS.addonsDir, mode: 0o755, owner: 'root', group: 'root' },
    ...filesOf('addons', files).map(fileResource),
    legacyRecordGone('addons'),
  ],
  record: ({ spec }) => clusterRecord(spec),
  clusterActions: (ctx) => ADDONS.filter((a) => rendered(ctx, a)).map((a) => applyAddon(ctx, a)),
};

function rendered(ctx: ClusterContext, addon: Addon): boolean {
  return ctx.hosts.some((h) => h.files.some((f) => f.path === addon.file));
}

function applyAddon(ctx: ClusterContext, addon: Addon): ClusterAction {
  const applied = `${HOST_PATHS.appliedDir}/${posix.basename(addon.file)}`;
  return {
    name: `addon:${addon.name}`,
    description: `apply ${addon.file} (${addon.name})`,
    check: (host) => `cmp -s ${shq(addon.file)} ${shq(applied)} && ${kubectl(host)} -n ${shq(addon.witness.namespace)} get ${shq(addon.witness.object)} -o name`,
    run: (host) => `${kubectl(host)} apply -f ${shq(addon.file)} && mkdir -p ${shq(HOST_PATHS.appliedDir)} && cp -- ${shq(addon.file)} ${shq(applied)}`,
    candidates: namesWithRole(ctx, 'master'),
    when: 'after',
    failureHint: 'check the manifest (bootstrap render) and that the API server answers on that master',
  };
}
