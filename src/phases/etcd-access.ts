import { createHash } from 'node:crypto';
import type { EtcdApi } from '../cluster-api/etcd-api.js';
import type { ClusterSpec } from '../config/cluster-spec.js';
import type { ClusterAction, ClusterContext } from './context.js';
import { ETCD_USERS } from '../pki/catalog.js';
import { namesWithRole } from './phase.js';
import { ETCD_ACCESS_MARKER_KEY } from '../components/clients.js';
import { etcdAs } from './cluster-queries.js';

/**
 * Who may read and write what in etcd. etcd alone only checks that a client certificate comes from
 * its CA, and every worker holds one (flanneld's, in etcd mode): without roles, root on any worker
 * could read every Secret and rewrite RBAC. With etcd's authentication on, the certificate's CN is
 * the etcd user, and:
 *   - the API server's user may use the whole keyspace (its prefix, the compaction key, leases);
 *   - flanneld's user reads and writes FLANNEL_ETCD_PREFIX and nothing else;
 *   - the health check's user reads flannel's prefix (its leases); health and member list need no grant;
 *   - `root` (certificate on etcd members only) manages the rest.
 * In flannel's kube mode no flanneld talks to etcd, so its user does not exist.
 */
export interface EtcdGrant {
  permission: 'read' | 'readwrite';
  /** A key prefix; '' is the whole keyspace. */
  prefix: string;
}

export interface EtcdRole {
  /** `kubestrap-<purpose>-<hash of its grants>`: a change of grants is a new role, granted before the old one is revoked. */
  name: string;
  grants: EtcdGrant[];
}

export interface EtcdUser {
  name: string;
  /** Empty: the user must not exist. */
  roles: string[];
}

export interface EtcdAccess {
  roles: EtcdRole[];
  users: EtcdUser[];
  /** Names every desired role, user and grant: what the cluster records once it holds them. */
  fingerprint: string;
}

/** Roles kubestrap made start with this; others (an operator's own) are left alone. */
const ROLE_PREFIX = 'kubestrap-';

function role(purpose: string, grants: EtcdGrant[]): EtcdRole {
  const hash = createHash('sha256').update(JSON.stringify(grants)).digest('hex').slice(0, 8);
  return { name: `${ROLE_PREFIX}${purpose}-${hash}`, grants };
}

export function etcdAccess(spec: ClusterSpec): EtcdAccess {
  const flannelPrefix = spec.values.FLANNEL_MODE === 'kube' ? undefined : `${spec.values.FLANNEL_ETCD_PREFIX}/`;
  const apiserver = role('apiserver', [{ permission: 'readwrite', prefix: '' }]);
  const healthcheck = role('healthcheck', flannelPrefix ? [{ permission: 'read', prefix: flannelPrefix }] : []);
  const flanneld = flannelPrefix ? role('flanneld', [{ permission: 'readwrite', prefix: flannelPrefix }]) : undefined;
  const roles = [apiserver, healthcheck, ...(flanneld ? [flanneld] : [])];
  const users: EtcdUser[] = [
    { name: ETCD_USERS.admin, roles: ['root'] },
    { name: ETCD_USERS.apiserver, roles: [apiserver.name] },
    { name: ETCD_USERS.healthcheck, roles: [healthcheck.name] },
    { name: ETCD_USERS.flannel, roles: flanneld ? [flanneld.name] : [] },
  ];
  const fingerprint = createHash('sha256').update(JSON.stringify({ roles, users })).digest('hex').slice(0, 16);
  return { roles, users, fingerprint };
}

/**
 * Users, roles and grants as desired state, then `auth enable`, once per cluster on the first etcd
 * member that answers, after the members run: by the controller over etcd's gRPC API through that
 * member's channel, as root, so no etcdctl starts on the member. The check is two reads on a no-op
 * run: the marker root wrote last time says the roles are as desired, and a read the health-check
 * user may not do being refused says authentication is on.
 */
export function etcdAccessAction(ctx: ClusterContext): ClusterAction {
  const access = etcdAccess(ctx.spec);
  return {
    name: 'etcd-access',
    description: `etcd authentication on, with roles: ${access.roles.map(describeRole).join('; ')}`,
    query: async (channel, host) => {
      const [root, health] = await Promise.all([
        etcdAs(ctx.spec, host, channel, 'etcdAdmin').get(ETCD_ACCESS_MARKER_KEY),
        etcdAs(ctx.spec, host, channel, 'etcdHealthcheck').get(ETCD_ACCESS_MARKER_KEY),
      ]);
      return root.kind === 'value' && root.value === access.fingerprint && health.kind === 'denied';
    },
    apply: (channel, host) => convergeAccess(etcdAs(ctx.spec, host, channel, 'etcdAdmin'), access),
    candidates: namesWithRole(ctx, 'etcd'),
    when: 'after',
    failureHint: "check that etcd is healthy on that member (bootstrap health, journalctl -u etcd) and that the local PKI is the cluster's (the etcd admin client certificate)",
  };
}

function describeRole(r: EtcdRole): string {
  return `${r.name} ${r.grants.map((g) => `${g.permission} ${g.prefix === '' ? 'all keys' : `${g.prefix}*`}`).join(', ') || 'no keys'}`;
}

/** The calls convergeAccess makes: EtcdApi's, as root. */
export type AccessApi = Pick<
  EtcdApi,
  'roleList' | 'roleAdd' | 'roleGrantPrefix' | 'roleDelete' | 'userList' | 'userAdd' | 'userDelete' | 'userRoles' | 'userGrantRole' | 'userRevokeRole' | 'authEnable' | 'put'
>;

/**
 * Converges etcd's users and roles to `access` without a moment in which a running client loses what
 * it may do: new roles are made and granted before stale ones are revoked and deleted; `auth enable`
 * comes last and is a no-op when on, and the marker is written after it. Every step is idempotent
 * (each looks before it adds; granting again what a role has changes nothing), so an interrupted run
 * is finished by the next.
 */
export async function convergeAccess(api: AccessApi, access: EtcdAccess): Promise<void> {
  const roles = await api.roleList();
  if (!roles.includes('root')) await api.roleAdd('root');
  for (const r of access.roles) {
    if (!roles.includes(r.name)) await api.roleAdd(r.name);
    // Granted every time: a run that died after the role was added is finished here.
    for (const g of r.grants) await api.roleGrantPrefix(r.name, g.permission, g.prefix);
  }
  const users = await api.userList();
  for (const u of access.users) {
    if (u.roles.length) await convergeUser(api, u, users.includes(u.name));
    else if (users.includes(u.name)) await api.userDelete(u.name);
  }
  const wanted = new Set(access.roles.map((r) => r.name));
  for (const stale of (await api.roleList()).filter((r) => r.startsWith(ROLE_PREFIX) && !wanted.has(r))) await api.roleDelete(stale);
  await api.authEnable();
  await api.put(ETCD_ACCESS_MARKER_KEY, access.fingerprint);
}

/** One user: made without a password (its certificate is its login), given its roles, then stripped of stale kubestrap roles. */
async function convergeUser(api: AccessApi, u: EtcdUser, exists: boolean): Promise<void> {
  if (!exists) await api.userAdd(u.name);
  const held = exists ? await api.userRoles(u.name) : [];
  for (const r of u.roles.filter((r) => !held.includes(r))) await api.userGrantRole(u.name, r);
  for (const r of held.filter((r) => r.startsWith(ROLE_PREFIX) && !u.roles.includes(r))) await api.userRevokeRole(u.name, r);
}
