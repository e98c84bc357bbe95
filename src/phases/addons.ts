import { createHash } from 'node:crypto';
import { HOST_PATHS } from '../components/paths.js';
import type { ClusterAction, ClusterContext } from './context.js';
import type { Resource } from '../engine/resource.js';
import { shq } from '../ssh/quote.js';
import { fileResource } from './file-resource.js';
import { filesOf, namesWithRole, readsRoles, type Phase, type PhaseContext } from './phase.js';
import { clusterRecord, legacyRecordGone } from './record.js';
import { kubectl } from '../components/clients.js';
import { adminApi, exists, readStateConfigMap, stateConfigMap } from './cluster-queries.js';

/** An addon's manifest on the masters, and an object whose absence means it must be applied again. */
interface Addon {
  name: string;
  file: string;
  /** `<namespace> <kind>/<name>` of an object the manifest creates, and its API path. */
  witness: { namespace: string; object: string; path: string };
}

const ADDONS: readonly Addon[] = [
  {
    name: 'coredns',
    file: `${HOST_PATHS.addonsDir}/coredns.yaml`,
    witness: { namespace: 'kube-system', object: 'deployment/coredns', path: '/apis/apps/v1/namespaces/kube-system/deployments/coredns' },
  },
];

/**
 * Cluster addons (CoreDNS) rendered from templates in units/ onto every master, and applied once
 * with kubectl on one of them: again only when the rendered manifest changed since it was last
 * applied (its sha256, kept in the cluster by the apply), or when its objects are gone. The check is
 * the controller's own, two reads through the API server; no process starts on the master.
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
  limitReads: readsRoles('master'),
};

function rendered(ctx: ClusterContext, addon: Addon): boolean {
  return ctx.hosts.some((h) => h.files.some((f) => f.path === addon.file));
}

/** Each addon's manifest as last applied (its sha256) is kept in ConfigMap kube-system/kubestrap-addon-<name>. */
function applyAddon(ctx: ClusterContext, addon: Addon): ClusterAction {
  const content = ctx.hosts.flatMap((h) => h.files.filter((f) => f.path === addon.file))[0]?.content ?? '';
  const sha256 = createHash('sha256').update(content).digest('hex');
  const state = `addon-${addon.name}`;
  return {
    name: `addon:${addon.name}`,
    description: `apply ${addon.file} (${addon.name})`,
    check: (host) =>
      `[ "$(${kubectl(host)} -n kube-system get configmap/kubestrap-${state} -o 'jsonpath={.data.sha256}')" = ${sha256} ] && ${kubectl(host)} -n ${shq(addon.witness.namespace)} get ${shq(addon.witness.object)} -o name`,
    query: async (channel, host) => {
      const api = adminApi(ctx.spec, host, channel);
      const [applied, present] = await Promise.all([readStateConfigMap(api, state), exists(api, addon.witness.path)]);
      return applied?.sha256 === sha256 && present;
    },
    run: (host) => `${kubectl(host)} apply -f ${shq(addon.file)} && printf '%s' ${shq(stateConfigMap(state, { sha256 }))} | ${kubectl(host)} apply -f - >/dev/null`,
    candidates: namesWithRole(ctx, 'master'),
    when: 'after',
    failureHint: 'check the manifest (bootstrap render) and that the API server answers on that master',
  };
}
