import { chmodSync, mkdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FileResource } from '../../../src/engine/resource.js';
import { isSystemdUnitPath, sha256 } from '../../../src/engine/kinds/file.js';
import { useTempDir } from '../../support/tmp.js';
import { diffOf, observe, sh, shRun, stepTexts } from '../support.js';

const CONTENT = 'KEY=value\n';
const SHA = sha256(CONTENT);

function file(over: Partial<FileResource> = {}): FileResource {
  return { kind: 'file', path: '/etc/kubestrap/test.conf', content: CONTENT, mode: 0o644, owner: 'root', group: 'root', restarts: [], ...over };
}

describe('file kind: diff of probe output', () => {
  it('creates an absent file with one put step that says no file exists', () => {
    const c = diffOf(file({ restarts: ['kubelet'] }), 'absent');
    expect(c?.summary).toBe('create /etc/kubestrap/test.conf (0644 root:root, 10 bytes)');
    expect(c?.steps).toEqual([{ type: 'put', path: '/etc/kubestrap/test.conf', content: CONTENT, mode: 0o644, owner: 'root', group: 'root', currentSha256: null }]);
    expect(c?.file).toEqual({ path: '/etc/kubestrap/test.conf', currentSha256: null, desired: CONTENT, secret: false });
    expect(c?.restarts).toEqual(['kubelet']);
    expect(c?.stage).toBe('prepare');
    expect(c?.reloadsSystemd).toBe(false);
  });

  it('has nothing to do when content, mode and owner match', () => {
    expect(diffOf(file(), `644 root root\n${SHA}`)).toBeUndefined();
  });

  it('updates different content, carrying the current hash for the upload and the diff', () => {
    const current = sha256('KEY=old\n');
    const c = diffOf(file({ secret: true, restarts: ['etcd'] }), `644 root root\n${current}`);
    expect(c?.summary).toBe('update /etc/kubestrap/test.conf');
    expect(c?.steps).toHaveLength(1);
    expect(c?.steps[0]).toMatchObject({ type: 'put', currentSha256: current });
    expect(c?.file).toEqual({ path: '/etc/kubestrap/test.conf', currentSha256: current, desired: CONTENT, secret: true });
    expect(c?.restarts).toEqual(['etcd']);
  });

  it.each([
    ['a wanted mode that gives group and others nothing', { mode: 0o600 }, '644 root root', true, true],
    ['a file the host keeps private (0640 is not: the group may read it)', { mode: 0o640 }, '600 root root', true, false],
    ['a header that says secret=true', { mode: 0o644, secret: true }, '644 root root', true, true],
    ['none of these', { mode: 0o640 }, '644 root root', false, false],
  ] as const)('is secret (never fetched nor shown) for %s', (_what, over, stat, whenPresent, whenAbsent) => {
    expect(diffOf(file(over), `${stat}\n${sha256('TOKEN=old\n')}`)?.file?.secret).toBe(whenPresent);
    expect(diffOf(file(over), 'absent')?.file?.secret).toBe(whenAbsent);
  });

  it('fixes only mode and owner when the content is right, with a chown/chmod script', () => {
    const c = diffOf(file({ restarts: ['kubelet'] }), `600 nobody nogroup\n${SHA}`);
    expect(c?.summary).toBe('set /etc/kubestrap/test.conf to 0644 root:root (was 0600 nobody:nogroup)');
    expect(stepTexts(c)).toHaveLength(1);
    expect(stepTexts(c)[0]).toMatch(/ && chown -- root:root \/etc\/kubestrap\/test\.conf && chmod -- 0644 \/etc\/kubestrap\/test\.conf$/);
    expect(c?.file).toBeUndefined();
    expect(c?.restarts).toEqual(['kubelet']);
  });

  it('replaces a symlink or other non-regular file without trusting its hash', () => {
    const c = diffOf(file(), 'other');
    expect(c?.summary).toBe('replace (not a regular file) /etc/kubestrap/test.conf (0644 root:root, 10 bytes)');
    expect(c?.steps[0]).toMatchObject({ type: 'put', currentSha256: null });
    expect(c?.file?.currentSha256).toBeNull();
  });

  it('marks systemd unit files so systemd is reloaded before services are touched', () => {
    const unit = file({ path: '/etc/systemd/system/kubelet.service', restarts: ['kubelet'] });
    expect(diffOf(unit, 'absent')?.reloadsSystemd).toBe(true);
    expect(diffOf(unit, `600 root root\n${SHA}`)?.reloadsSystemd).toBe(true);
    expect(isSystemdUnitPath('/usr/lib/systemd/system/x.service')).toBe(true);
    expect(isSystemdUnitPath('/etc/systemd/system.conf')).toBe(false);
    expect(isSystemdUnitPath('/etc/kubernetes/kubelet.kubeconfig')).toBe(false);
  });

  it('counts bytes, not characters, in the summary', () => {
    expect(diffOf(file({ content: 'é\n' }), 'absent')?.summary).toContain('3 bytes');
  });
});

describe('file kind: real probe on this machine', () => {
  const tmp = useTempDir();
  const me = userInfo().username;
  const myGroup = sh('id -gn').trim();

  it('agrees with diff for a regular file: same content is no change, other content an update with the real hash', () => {
    const path = join(tmp(), 'a.conf');
    writeFileSync(path, CONTENT, { mode: 0o640 });
    const r = file({ path, mode: 0o640, owner: me, group: myGroup });
    const observed = observe(r);
    expect(observed).toBe(`640 ${me} ${myGroup}\n${SHA}`);
    expect(diffOf(r, observed)).toBeUndefined();

    writeFileSync(path, 'KEY=old\n');
    expect(diffOf(r, observe(r))?.file?.currentSha256).toBe(sha256('KEY=old\n'));
  });

  it('sees a missing file as absent and a symlink or a directory as other', () => {
    const missing = file({ path: join(tmp(), 'missing.conf') });
    expect(observe(missing)).toBe('absent');
    expect(diffOf(missing, observe(missing))?.summary).toMatch(/^create /);

    const target = join(tmp(), 'target.conf');
    writeFileSync(target, CONTENT);
    const link = join(tmp(), 'link.conf');
    symlinkSync(target, link);
    expect(readlinkSync(link)).toBe(target);
    expect(observe(file({ path: link }))).toBe('other');
    const dangling = join(tmp(), 'dangling.conf');
    symlinkSync(join(tmp(), 'nowhere'), dangling);
    expect(observe(file({ path: dangling }))).toBe('other');
    mkdirSync(join(tmp(), 'dir.conf'));
    expect(observe(file({ path: join(tmp(), 'dir.conf') }))).toBe('other');
  });

  it('handles paths with spaces and quotes', () => {
    const path = join(tmp(), "it's a file.conf");
    writeFileSync(path, CONTENT, { mode: 0o600 });
    const r = file({ path, mode: 0o600, owner: me, group: myGroup });
    expect(diffOf(r, observe(r))).toBeUndefined();
  });

  it('runs its chmod step for real, after which the probe finds nothing to do', () => {
    const path = join(tmp(), 'mode.conf');
    writeFileSync(path, CONTENT, { mode: 0o600 });
    const r = file({ path, mode: 0o644, owner: me, group: myGroup });
    const c = diffOf(r, observe(r));
    expect(c?.summary).toContain('(was 0600');
    sh(stepTexts(c)[0]!);
    expect(statSync(path).mode & 0o7777).toBe(0o644);
    expect(diffOf(r, observe(r))).toBeUndefined();
  });

  it('will not chown and chmod by name in a folder others may change (the file could become a link to /etc/shadow)', () => {
    const shared = join(tmp(), 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const path = join(shared, 'mode.conf');
    writeFileSync(path, CONTENT, { mode: 0o600 });
    const r = file({ path, mode: 0o644, owner: me, group: myGroup });
    const c = diffOf(r, observe(r));
    const run = shRun(stepTexts(c)[0]!);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${shared} may be changed by users other than root`);
    expect(statSync(path).mode & 0o7777).toBe(0o600);
    expect(c?.failureHint).toBe(`if ${shared} may be changed by others: chown root ${shared} && chmod go-w ${shared}`);
  });
});
