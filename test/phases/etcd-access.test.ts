import { describe, expect, it } from 'vitest';
import type { ClusterContext } from '../../src/phases/context.js';
import { ETCD_ACCESS_MARKER_KEY } from '../../src/components/clients.js';
import { accessScript, etcdAccess, etcdAccessAction } from '../../src/phases/etcd-access.js';
import { PKI_PATHS } from '../../src/components/paths.js';
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

  it('is checked as root for the marker and as the health check for the refusal that shows auth is on, on the first etcd member', () => {
    const s = spec();
    const ctx: ClusterContext = { spec: s, mode: 'apply', hosts: s.hosts.map((host) => ({ host, facts: {} as never, os: {} as never, files: [] })) };
    const action = etcdAccessAction(ctx);
    expect(action.candidates).toEqual(['m1', 'e1']);
    expect(action.when).toBe('after');
    const check = typeof action.check === 'string' ? action.check : action.check!(s.hosts[0]!, []);
    const [asRoot, asHealth] = check.split(' && ! ');
    expect(asRoot).toContain(`'--cert=${PKI_PATHS.etcdAdminClientCert}'`);
    expect(asHealth).toContain(`'--cert=${PKI_PATHS.etcdHealthcheckClientCert}'`);
  });

  it('grants new roles before it revokes stale ones, enables auth and writes the marker last', () => {
    const s = spec();
    const script = accessScript(s.hosts[0]!, etcdAccess(s));
    const at = (text: string) => script.indexOf(text);
    expect(at('grant-role')).toBeGreaterThan(0);
    expect(at('grant-role')).toBeLessThan(at('revoke-role'));
    expect(at('revoke-role')).toBeLessThan(at('role delete'));
    expect(at('role delete')).toBeLessThan(at('auth enable'));
    expect(at('auth enable')).toBeLessThan(at(`put ${ETCD_ACCESS_MARKER_KEY}`));
    expect(script.startsWith('set -e\n')).toBe(true);
  });
});
