import { createHash } from 'node:crypto';
import { HOST_PATHS } from '../components/paths.js';
import type { ClusterAction, ClusterContext } from './context.js';
import type { Resource } from '../engine/resource.js';
import { fileResource } from './file-resource.js';
import { filesOf, namesWithRole, readsRoles, type Phase, type PhaseContext } from './phase.js';
import { clusterRecord, legacyRecordGone } from './record.js';
import { adminApi, exists, readStateConfigMap, writeStateConfigMap } from './cluster-queries.js';
import { manifestObjects, serverSideApply } from '../cluster-api/apply.js';

/** An addon's manifest on the masters, and an object whose absence means it must be applied again. */
interface Addon {
  name: string;
  file: string;
  /** The API path of an object the manifest creates. */
  witness: { path: string };
}

const ADDONS: readonly Addon[] = [
  {
    name: 'coredns',
    file: `${HOST_PATHS.addonsDir}/coredns.yaml`,
    witness: { path: '/apis/apps/v1/namespaces/kube-system/deployments/coredns' },
  },
];

/**
 * Cluster addons (CoreDNS) rendered from templates in units/ onto every master (for operators to
 * read), and applied once by the controller through one master's API server: again only when the
 * rendered manifest changed since it was last applied (its sha256, kept in the cluster by the
 * apply), or when its objects are gone. Check and apply are the controller's own requests; no
 * process starts on the master.
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

/**
 * Each addon's manifest as last applied (its sha256) is kept in ConfigMap kube-system/kubestrap-addon-<name>.
 * Applied by the controller with server-side apply, object by object, then that record: a failure
 * part-way leaves the record as it was, so the next run applies the manifest again.
 */
function applyAddon(ctx: ClusterContext, addon: Addon): ClusterAction {
  const content = ctx.hosts.flatMap((h) => h.files.filter((f) => f.path === addon.file))[0]?.content ?? '';
  const sha256 = createHash('sha256').update(content).digest('hex');
  const state = `addon-${addon.name}`;
  return {
    name: `addon:${addon.name}`,
    description: `apply ${addon.file} (${addon.name})`,
    query: async (channel, host) => {
      const api = adminApi(ctx.spec, host, channel);
      const [applied, present] = await Promise.all([readStateConfigMap(api, state), exists(api, addon.witness.path)]);
      return applied?.sha256 === sha256 && present;
    },
    apply: async (channel, host) => {
      const api = adminApi(ctx.spec, host, channel);
      await serverSideApply(api, manifestObjects(addon.file, content));
      await writeStateConfigMap(api, state, { sha256 });
    },
    candidates: namesWithRole(ctx, 'master'),
    when: 'after',
    failureHint: 'check the manifest (bootstrap render) and that the API server answers on that master',
  };
}
