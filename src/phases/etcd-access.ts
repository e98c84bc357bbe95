import { createHash } from 'node:crypto';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { ClusterAction, ClusterContext } from './context.js';
import { ETCD_USERS } from '../pki/catalog.js';
import { shq } from '../ssh/quote.js';
import { namesWithRole } from './phase.js';
import { LOCAL_ETCD } from '../components/catalog.js';
import { ETCD_ACCESS_MARKER_KEY, etcdctl } from '../components/clients.js';
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
 * member that answers, after the members run. The check costs two etcdctl calls on a no-op run: the
 * marker root wrote last time says the roles are as desired, and a read the health-check user may
 * not do being refused says authentication is on.
 */
export function etcdAccessAction(ctx: ClusterContext): ClusterAction {
  const access = etcdAccess(ctx.spec);
  return {
    name: 'etcd-access',
    description: `etcd authentication on, with roles: ${access.roles.map(describeRole).join('; ')}`,
    check: (host) => accessCheck(host, access),
    // As accessCheck, by the controller over etcd's gRPC API: two reads, no etcdctl on the member.
    query: async (channel, host) => {
      const [root, health] = await Promise.all([
        etcdAs(ctx.spec, host, channel, 'etcdAdmin').get(ETCD_ACCESS_MARKER_KEY),
        etcdAs(ctx.spec, host, channel, 'etcdHealthcheck').get(ETCD_ACCESS_MARKER_KEY),
      ]);
      return root.kind === 'value' && root.value === access.fingerprint && health.kind === 'denied';
    },
    run: (host) => accessScript(host, access),
    candidates: namesWithRole(ctx, 'etcd'),
    when: 'after',
    failureHint: 'check that etcd is healthy on that member (bootstrap health, journalctl -u etcd) and that it holds the admin client certificate (the pki phase installs it)',
  };
}

function describeRole(r: EtcdRole): string {
  return `${r.name} ${r.grants.map((g) => `${g.permission} ${g.prefix === '' ? 'all keys' : `${g.prefix}*`}`).join(', ') || 'no keys'}`;
}

function accessCheck(host: HostSpec, access: EtcdAccess): string {
  const root = etcdctl(host, LOCAL_ETCD, 'admin');
  const health = etcdctl(host, LOCAL_ETCD, 'healthcheck');
  return [
    `[ "$(${root} get ${shq(ETCD_ACCESS_MARKER_KEY)} --print-value-only)" = ${shq(access.fingerprint)} ]`,
    // Auth off: anyone with a certificate reads it.
    `! ${health} get ${shq(ETCD_ACCESS_MARKER_KEY)} >/dev/null 2>&1`,
  ].join(' && ');
}

/**
 * Converges etcd's users and roles to `access` without a moment in which a running client loses what
 * it may do: new roles are made and granted before stale ones are revoked and deleted; `auth enable`
 * comes last and is a no-op when on. Every step is idempotent, so an interrupted run is finished by the next.
 */
export function accessScript(host: HostSpec, access: EtcdAccess): string {
  const e = 'ks_etcdctl';
  const lines = [
    'set -e',
    `${e}() { ${etcdctl(host, LOCAL_ETCD, 'admin')} "$@"; }`,
    // A name in a list printed one per line (roles), or in a line of names (a user's roles).
    `ks_has() { printf '%s\\n' "$1" | tr ' ' '\\n' | grep -qxF -- "$2"; }`,
    `ks_roles=$(${e} role list)`,
    `ks_has "$ks_roles" root || ${e} role add root >/dev/null`,
    ...access.roles.flatMap((r) => [
      `ks_has "$ks_roles" ${shq(r.name)} || ${e} role add ${shq(r.name)} >/dev/null`,
      // Granting again what a role has is a no-op: a run that died after `role add` is finished here.
      ...r.grants.map((g) => `${e} role grant-permission --prefix=true ${shq(r.name)} ${g.permission} -- ${shq(g.prefix)} >/dev/null`),
    ]),
    `ks_users=$(${e} user list)`,
    ...access.users.flatMap((u) => (u.roles.length ? userScript(e, u) : [`! ks_has "$ks_users" ${shq(u.name)} || ${e} user delete ${shq(u.name)} >/dev/null`])),
    `for ks_role in $(${e} role list | grep -- ${shq(`^${ROLE_PREFIX}`)} || :); do`,
    `  case " ${access.roles.map((r) => r.name).join(' ')} " in *" $ks_role "*) ;; *) ${e} role delete "$ks_role" >/dev/null ;; esac`,
    'done',
    `${e} auth enable >/dev/null`,
    `${e} put ${shq(ETCD_ACCESS_MARKER_KEY)} ${shq(access.fingerprint)} >/dev/null`,
  ];
  return lines.join('\n');
}

/** One user: made without a password (its certificate is its login), given its roles, stripped of stale kubestrap roles. */
function userScript(e: string, u: EtcdUser): string[] {
  const name = shq(u.name);
  return [
    `ks_has "$ks_users" ${name} || ${e} user add --no-password ${name} >/dev/null`,
    `ks_held=$(${e} user get ${name} | sed -n 's/^Roles: *//p')`,
    ...u.roles.map((r) => `ks_has "$ks_held" ${shq(r)} || ${e} user grant-role ${name} ${shq(r)} >/dev/null`),
    `for ks_role in $ks_held; do`,
    `  case "$ks_role" in ${ROLE_PREFIX}*) case " ${u.roles.join(' ')} " in *" $ks_role "*) ;; *) ${e} user revoke-role ${name} "$ks_role" >/dev/null ;; esac ;; esac`,
    'done',
  ];
}
