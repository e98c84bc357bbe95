import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProbe, probeScript } from '../../../src/engine/probe.js';
import { resourceId, type CommandResource } from '../../../src/engine/resource.js';
import { useTempDir } from '../../support/tmp.js';
import { debianCtx, diffOf, fakeTools, observe, shRun, stepTexts } from '../support.js';

const cmd = (check: string): CommandResource => ({ kind: 'command', name: 'forward', description: 'iptables: FORWARD ACCEPT', check, run: 'iptables -P FORWARD ACCEPT' });

describe('command kind', () => {
  it('runs only when the check exits non-zero', () => {
    expect(diffOf(cmd('x'), '0')).toBeUndefined();
    const c = diffOf(cmd('x'), '1');
    expect(c?.summary).toBe('iptables: FORWARD ACCEPT');
    expect(stepTexts(c)).toEqual(['iptables -P FORWARD ACCEPT']);
    expect(c?.resourceId).toBe('command:forward');
  });

  it('treats a missing probe section as needing the command', () => {
    expect(diffOf(cmd('x'), '')).toBeDefined();
  });

  it('real probe: prints the exit code of the check and nothing of its output', () => {
    expect(observe(cmd('echo noise; echo err >&2; true'))).toBe('0');
    expect(observe(cmd('echo noise; exit 3'))).toBe('3');
    expect(observe(cmd('no-such-command-kubestrap'))).toBe('127');
    expect(diffOf(cmd('false'), observe(cmd('false')))).toBeDefined();
  });
});

describe('command kind: a listing that several checks share', () => {
  const tmp = useTempDir();
  const image = (ref: string): CommandResource => ({ kind: 'command', name: `image:${ref}`, description: `import ${ref}`, check: { list: 'ctr images ls -q', line: ref }, run: 'true' });

  it('runs the listing once for all its checks, and each passes only for a whole line of it, next to checks of their own', () => {
    const dir = tmp();
    const env = fakeTools(dir, { ctr: `echo run >> ${dir}/runs; printf 'registry.k8s.io/pause:3.10\\nregistry.k8s.io/coredns/coredns:v1.13.1 extra\\n*\\n'` });
    const rs: CommandResource[] = [image('registry.k8s.io/pause:3.10'), image('registry.k8s.io/coredns/coredns:v1.13.1'), image('registry.k8s.io/pause'), cmd('exit 4'), image('*'), image('x')];
    const probe = parseProbe(shRun(probeScript(rs, debianCtx), env).stdout, rs);
    expect(rs.map((r) => probe.observed.get(resourceId(r)))).toEqual(['0', '1', '1', '4', '0', '1']);
    expect(readFileSync(join(dir, 'runs'), 'utf8')).toBe('run\n');
  });

  it('fails every check of a listing that cannot run', () => {
    const rs = [image('a')];
    expect(parseProbe(shRun(probeScript(rs, debianCtx), fakeTools(tmp(), { ctr: 'exit 1' })).stdout, rs).observed.get('command:image:a')).toBe('1');
  });
});
