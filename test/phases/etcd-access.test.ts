import { describe, expect, it } from 'vitest';
import type { ClusterContext } from '../../src/phases/context.js';
import { ETCD_ACCESS_MARKER_KEY } from '../../src/components/clients.js';
import { convergeAccess, etcdAccess, etcdAccessAction, type AccessApi } from '../../src/phases/etcd-access.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

describe("etcd's users and roles", () => {
  const tmp = useTempDir();
  const spec = (config = '') => clusterFrom(tmp(), config);
  const grantsOf = (config: string) => {
    const access = etcdAccess(spec(config));
    return Object.fromEntries(
      access.users.map((u) => [u.name, u.roles.flatMap((r) => (r === 'root' ? ['root'] : access.roles.find((x) => x.name === r)!.grants.map((g) => `${g.permission} ${g.prefix}`)))]),
    );
  };

  it('in etcd mode: the API server everything, flanneld its prefix, the health check a read of it, root for the rest', () => {
    expect(grantsOf('FLANNEL_ETCD_PREFIX=/lab/network\n')).toEqual({
      root: ['root'],
      'kube-apiserver-etcd-client': ['readwrite '],
      'kube-etcd-healthcheck-client': ['read /lab/network/'],
      flanneld: ['readwrite /lab/network/'],
    });
  });

  it('in kube mode: no flanneld user at all, and nothing for the health check to read', () => {
    const access = etcdAccess(spec('FLANNEL_MODE=kube\n'));
    expect(access.users.find((u) => u.name === 'flanneld')).toEqual({ name: 'flanneld', roles: [] });
    expect(grantsOf('FLANNEL_MODE=kube\n')['kube-etcd-healthcheck-client']).toEqual([]);
  });

  it('names a role after its grants, so a changed prefix is a new role and a new fingerprint; the same spec gives the same ones', () => {
    const a = etcdAccess(spec('FLANNEL_ETCD_PREFIX=/a\n'));
    const b = etcdAccess(spec('FLANNEL_ETCD_PREFIX=/b\n'));
    expect(etcdAccess(spec('FLANNEL_ETCD_PREFIX=/a\n'))).toEqual(a);
    expect(a.roles.map((r) => r.name)).not.toEqual(b.roles.map((r) => r.name));
    expect(a.roles.find((r) => r.name.startsWith('kubestrap-apiserver-'))).toEqual(b.roles.find((r) => r.name.startsWith('kubestrap-apiserver-')));
    expect(a.fingerprint).not.toBe(b.fingerprint);
  });

  it('keeps the marker where no flannel prefix can reach it (prefixes are absolute)', () => {
    expect(ETCD_ACCESS_MARKER_KEY.startsWith('/')).toBe(false);
  });

  it('is checked and done by the controller (query and apply, no script for the member), on the first etcd member', () => {
    const s = spec();
    const ctx: ClusterContext = { spec: s, mode: 'apply', hosts: s.hosts.map((host) => ({ host, facts: {} as never, os: {} as never, files: [] })) };
    const action = etcdAccessAction(ctx);
    expect(action.candidates).toEqual(['m1', 'e1']);
    expect(action.when).toBe('after');
    expect([action.check, action.run, typeof action.query, typeof action.apply]).toEqual([undefined, undefined, 'function', 'function']);
  });

  it('grants new roles before it revokes stale ones, deletes stale roles after, enables auth and writes the marker last', async () => {
    const s = spec('FLANNEL_ETCD_PREFIX=/a\n');
    const etcd = new AuthStore();
    await convergeAccess(etcd, etcdAccess(s));
    // The prefix changes: flanneld's and the health check's roles are new ones.
    etcd.calls = [];
    const next = etcdAccess(spec('FLANNEL_ETCD_PREFIX=/b\n'));
    await convergeAccess(etcd, next);
    const at = (call: string) => etcd.calls.findIndex((c) => c.startsWith(call));
    expect(at('userGrantRole flanneld')).toBeGreaterThan(at('roleGrantPrefix kubestrap-flanneld'));
    expect(at('userGrantRole flanneld')).toBeLessThan(at('userRevokeRole flanneld'));
    expect(at('userRevokeRole')).toBeLessThan(at('roleDelete'));
    expect(etcd.calls.slice(-2)).toEqual(['authEnable', `put ${ETCD_ACCESS_MARKER_KEY} ${next.fingerprint}`]);
    expect(etcd.users.get('flanneld')).toEqual(next.users.find((u) => u.name === 'flanneld')!.roles);
    expect([...etcd.roles.keys()].sort()).toEqual(['root', ...next.roles.map((r) => r.name)].sort());
    expect(etcd.roles.get(next.roles.find((r) => r.name.startsWith('kubestrap-flanneld-'))!.name)).toEqual(['readwrite /b/']);
  });

  it("is idempotent: converged, a second run adds, revokes and deletes nothing; an operator's own role stays", async () => {
    const s = spec();
    const etcd = new AuthStore();
    etcd.roles.set('operators', []);
    await convergeAccess(etcd, etcdAccess(s));
    etcd.calls = [];
    await convergeAccess(etcd, etcdAccess(s));
    expect(etcd.calls.filter((c) => !/^(roleList|userList|userRoles|roleGrantPrefix|authEnable|put) ?/.test(c))).toEqual([]);
    expect(etcd.roles.has('operators')).toBe(true);
    expect(etcd.users.get('root')).toEqual(['root']);
  });

  it('in kube mode deletes a flanneld user an etcd-mode cluster had', async () => {
    const etcd = new AuthStore();
    await convergeAccess(etcd, etcdAccess(spec()));
    expect(etcd.users.has('flanneld')).toBe(true);
    await convergeAccess(etcd, etcdAccess(spec('FLANNEL_MODE=kube\n')));
    expect(etcd.users.has('flanneld')).toBe(false);
  });
});

/**
 * etcd's auth store as far as convergeAccess changes it (roles and their grants, users and their
 * roles), refusing what etcd refuses (adding what exists, granting to a role or user that does not),
 * with every call recorded in order. etcd itself answers these calls in the e2e (etcd-access).
 */
class AuthStore implements AccessApi {
  calls: string[] = [];
  roles = new Map<string, string[]>();
  users = new Map<string, string[]>();
  private log(call: string): void {
    this.calls.push(call);
  }
  private must(ok: boolean, what: string): void {
    if (!ok) throw new Error(`etcdserver: ${what}`);
  }
  async roleList(): Promise<string[]> {
    this.log('roleList');
    return [...this.roles.keys()].sort();
  }
  async roleAdd(name: string): Promise<void> {
    this.log(`roleAdd ${name}`);
    this.must(!this.roles.has(name), 'role name already exists');
    this.roles.set(name, []);
  }
  async roleDelete(name: string): Promise<void> {
    this.log(`roleDelete ${name}`);
    this.must(this.roles.has(name), 'role name not found');
    this.roles.delete(name);
    for (const [u, held] of this.users)
      this.users.set(
        u,
        held.filter((r) => r !== name),
      );
  }
  async roleGrantPrefix(name: string, permission: string, prefix: string): Promise<void> {
    this.log(`roleGrantPrefix ${name} ${permission} ${prefix}`);
    const grants = this.roles.get(name);
    this.must(grants !== undefined, 'role name not found');
    const grant = `${permission} ${prefix}`;
    if (!grants!.includes(grant)) grants!.push(grant);
  }
  async userList(): Promise<string[]> {
    this.log('userList');
    return [...this.users.keys()].sort();
  }
  async userAdd(name: string): Promise<void> {
    this.log(`userAdd ${name}`);
    this.must(!this.users.has(name), 'user name already exists');
    this.users.set(name, []);
  }
  async userDelete(name: string): Promise<void> {
    this.log(`userDelete ${name}`);
    this.must(this.users.delete(name), 'user name not found');
  }
  async userRoles(name: string): Promise<string[]> {
    this.log(`userRoles ${name}`);
    this.must(this.users.has(name), 'user name not found');
    return [...this.users.get(name)!];
  }
  async userGrantRole(user: string, role: string): Promise<void> {
    this.log(`userGrantRole ${user} ${role}`);
    this.must(this.users.has(user) && this.roles.has(role), 'user or role name not found');
    if (!this.users.get(user)!.includes(role)) this.users.get(user)!.push(role);
  }
  async userRevokeRole(user: string, role: string): Promise<void> {
    this.log(`userRevokeRole ${user} ${role}`);
    this.must(this.users.get(user)?.includes(role) === true, 'role is not granted to the user');
    this.users.set(
      user,
      this.users.get(user)!.filter((r) => r !== role),
    );
  }
  async authEnable(): Promise<void> {
    this.log('authEnable');
    this.must(this.users.get('root')?.includes('root') === true, 'root user does not have root role');
  }
  async put(key: string, value: string): Promise<void> {
    this.log(`put ${key} ${value}`);
  }
}
