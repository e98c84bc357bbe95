import { existsSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProbe, probeScript } from '../../../src/engine/probe.js';
import { resourceId, type DirectoryResource } from '../../../src/engine/resource.js';
import { useTempDir } from '../../support/tmp.js';
import { debianCtx, diffOf, observe, sh, shRun, stepTexts } from '../support.js';

function dir(over: Partial<DirectoryResource> = {}): DirectoryResource {
  return { kind: 'directory', path: '/var/lib/etcd', mode: 0o700, owner: 'etcd', group: 'etcd', ...over };
}

const APPLY = 'mkdir -p -- /var/lib/etcd && chown -- etcd:etcd /var/lib/etcd && chmod -- 0700 /var/lib/etcd';

describe('directory kind', () => {
  it('creates an absent directory with mkdir, chown and chmod', () => {
    const c = diffOf(dir(), 'absent');
    expect(c?.summary).toBe('create directory /var/lib/etcd (0700 etcd:etcd)');
    expect(stepTexts(c)).toEqual([APPLY]);
    expect(c?.stage).toBe('prepare');
  });

  it('has nothing to do when mode, owner and group match', () => {
    expect(diffOf(dir(), '700 etcd etcd')).toBeUndefined();
  });

  it.each([
    ['755 etcd etcd', 'mode'],
    ['700 root etcd', 'owner'],
    ['700 etcd root', 'group'],
    ['garbage', 'unparsable'],
  ])('fixes a directory whose stat says %s (%s)', (observed) => {
    const c = diffOf(dir(), observed);
    expect(c?.summary).toBe('set directory /var/lib/etcd to 0700 etcd:etcd');
    expect(stepTexts(c)).toEqual([APPLY]);
  });

  describe('real probe', () => {
    const tmp = useTempDir();

    it('creates a missing directory for real, then finds nothing to do', () => {
      const path = join(tmp(), 'a dir', 'nested');
      const r = dir({ path, mode: 0o750, owner: userInfo().username, group: sh('id -gn').trim() });
      expect(observe(r)).toBe('absent');
      sh(stepTexts(diffOf(r, observe(r)))[0]!);
      expect(existsSync(path)).toBe(true);
      expect(statSync(path).mode & 0o777).toBe(0o750);
      expect(observe(r)).toBe(`750 ${r.owner} ${r.group}`);
      expect(diffOf(r, observe(r))).toBeUndefined();
    });
  });
});

describe("directory kind: all of a host's directories in one probe", () => {
  const tmp = useTempDir();

  it('reads every directory with one stat: present, missing, a file in the way, a link to a folder', () => {
    const base = tmp();
    const me = { owner: userInfo().username, group: sh('id -gn').trim() };
    const rs = ['present', 'missing', 'a file', 'link', 'with|bar'].map((name) => dir({ path: join(base, name), ...me }));
    sh(`mkdir -m 0750 '${rs[0]!.path}' '${rs[4]!.path}' && touch '${rs[2]!.path}' && ln -s '${rs[0]!.path}' '${rs[3]!.path}'`);
    const script = probeScript(rs, debianCtx);
    expect(script.match(/\bstat\b/g)).toHaveLength(1);
    const observed = parseProbe(shRun(script).stdout, rs).observed;
    const own = `750 ${me.owner} ${me.group}`;
    expect(rs.map((r) => observed.get(resourceId(r)))).toEqual([own, 'absent', 'absent', own, own]);
  });
});
