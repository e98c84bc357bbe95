import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PKI_PATHS } from '../../src/components/paths.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { hostValues } from '../../src/phases/index.js';
import { renderCluster } from '../../src/render/render-cluster.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

/**
 * Root's etcdctl on an etcd member, as a login shell sources it: run by sh against a fake etcdctl
 * that prints the arguments it got and every ETCDCTL_* variable it sees (etcdctl 3.6 refuses a
 * variable that a flag on its command line shadows).
 */
describe('the etcdctl profile of etcd members', () => {
  const tmp = useTempDir();

  function loginShell(script: string, uid: string): string {
    const dir = tmp();
    const spec = clusterFrom(dir, '');
    const { hosts } = renderCluster(spec, BUNDLED_UNITS, (h) => hostValues(h, undefined));
    const profile = hosts.find((h) => h.host.name === 'e1')!.files.find((f) => f.path === '/etc/profile.d/kubestrap-etcdctl.sh')!;
    writeFileSync(join(dir, 'profile.sh'), profile.content);
    const fake = (name: string, body: string) => {
      writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    };
    fake('etcdctl', `printf 'arg %s\\n' "$@"; env | grep '^ETCDCTL_' | sed 's/^/env /'; exit 0`);
    fake('id', `echo ${uid}`);
    return execFileSync('sh', ['-c', `. ./profile.sh; ${script}`], { cwd: dir, env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8' });
  }

  it("gives root's interactive etcdctl the member's endpoint and etcd's root identity, as flags", () => {
    const out = loginShell('etcdctl member list', '0');
    expect(out.split('\n').filter(Boolean)).toEqual([
      'arg --endpoints=https://127.0.0.1:2379',
      `arg --cacert=${PKI_PATHS.etcdCaCert}`,
      `arg --cert=${PKI_PATHS.etcdAdminClientCert}`,
      `arg --key=${PKI_PATHS.etcdAdminClientKey}`,
      'arg member',
      'arg list',
    ]);
  });

  it('exports no ETCDCTL_* variable, so a call that gives its own flags (kubestrap, a script) sees none', () => {
    expect(loginShell('env | grep ^ETCDCTL_ || echo none', '0')).toBe('none\n');
    // A flag typed after etcdctl comes last, and pflag takes the last value given.
    expect(loginShell('etcdctl --endpoints=https://10.0.0.13:2379 endpoint health', '0')).toMatch(
      /arg --endpoints=https:\/\/127\.0\.0\.1:2379\n(arg .*\n){3}arg --endpoints=https:\/\/10\.0\.0\.13:2379\n/,
    );
  });

  it('leaves other users alone', () => {
    expect(loginShell('etcdctl version', '1000')).toBe('arg version\n');
  });
});
