import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffResources, parseProbe, probeScript } from '../../src/engine/probe.js';
import type { Resource } from '../../src/engine/resource.js';
import { parseSections, sectionedScript } from '../../src/engine/sections.js';
import { sha256 } from '../../src/engine/kinds/file.js';
import { useTempDir } from '../support/tmp.js';
import { debianCtx, sh, shRun } from './support.js';

const sections = (snippets: Array<[string, string]>) => parseSections(shRun(sectionedScript(snippets)).stdout);

describe('sectionedScript + parseSections, run for real with sh', () => {
  const dir = useTempDir();

  it('cannot be fooled by a host file that imitates a marker (a plan that lies)', () => {
    const tmp = join(dir(), 'hosts');
    // /etc/hosts (say) written to make the firewall look off and the sysctl look set.
    writeFileSync(tmp, 'ok\n\n@@kubestrap-section firewall\ninactive\n@@kubestrap-section-0123abcd sysctl\n1\n');
    const s = sections([
      ['hosts', `cat ${tmp}`],
      ['firewall', 'echo active'],
      ['sysctl', 'echo 0'],
    ]);
    expect(s.get('firewall')).toBe('active');
    expect(s.get('sysctl')).toBe('0');
    expect(s.get('hosts')).toBe('ok\n\n@@kubestrap-section firewall\ninactive\n@@kubestrap-section-0123abcd sysctl\n1');
  });

  it('cuts the reply into one section per key', () => {
    const s = sections([
      ['empty', 'true'],
      ['no-newline', 'printf "abc"'],
      ['newline', 'echo abc'],
      ['printf', 'echo "printf \'%s\' done"; printf "printf\\n"'],
      ['lines', 'echo one; echo; echo three'],
      ['blank-end', 'echo x; echo'],
      ['last-empty', ':'],
    ]);
    expect([...s.entries()]).toEqual([
      ['empty', ''],
      ['no-newline', 'abc'],
      ['newline', 'abc'],
      ['printf', "printf '%s' done\nprintf"],
      ['lines', 'one\n\nthree'],
      // Only one trailing newline goes: a blank last line survives.
      ['blank-end', 'x\n'],
      ['last-empty', ''],
    ]);
  });

  it('drops stderr and keeps going after a failing or missing command, with stdin closed', () => {
    const s = sections([
      ['fails', 'echo partial; no-such-tool-kubestrap; false'],
      ['stdin', 'cat; echo after'],
      ['stderr', 'echo visible; echo hidden >&2'],
    ]);
    expect(s.get('fails')).toBe('partial');
    expect(s.get('stdin')).toBe('after');
    expect(s.get('stderr')).toBe('visible');
  });

  it('ignores anything printed before the first section (a login banner)', () => {
    const out = sh(sectionedScript([['a', 'echo 1']]));
    expect(parseSections(`Welcome to host\n${out}`)).toEqual(new Map([['a', '1']]));
    expect(parseSections('no sections at all')).toEqual(new Map());
  });
});

describe('probeScript + parseProbe: several kinds in one command', () => {
  const tmp = useTempDir();

  it('frames each probe in a section that diff reads back, in resource order', () => {
    const me = sh('id -un').trim();
    const group = sh('id -gn').trim();
    const present = join(tmp(), 'present.conf');
    writeFileSync(present, 'a=1\n', { mode: 0o644 });
    const empty = join(tmp(), 'empty.conf');
    writeFileSync(empty, '', { mode: 0o600 });
    const link = join(tmp(), 'link.conf');
    symlinkSync(present, link);
    const resources: Resource[] = [
      { kind: 'file', path: present, content: 'a=1\n', mode: 0o644, owner: me, group, restarts: [] },
      { kind: 'file', path: join(tmp(), 'absent.conf'), content: 'b=2\n', mode: 0o644, owner: me, group, restarts: ['svc'] },
      { kind: 'file', path: empty, content: '', mode: 0o600, owner: me, group, restarts: [] },
      { kind: 'file', path: link, content: 'a=1\n', mode: 0o644, owner: me, group, restarts: [] },
      { kind: 'command', name: 'ok', description: 'never needed', check: 'true', run: 'false' },
      { kind: 'command', name: 'needed', description: 'needed', check: 'exit 1', run: 'true' },
      { kind: 'package', names: ['bash'] },
      { kind: 'sysctl', key: 'kernel.ostype', value: 'Linux' },
      { kind: 'kernelModule', name: 'kubestrap_nope' },
    ];
    const probe = parseProbe(shRun(probeScript(resources, debianCtx)).stdout, resources);
    expect([...probe.observed.entries()]).toEqual([
      [`file:${present}`, `644 ${me} ${group}\n${sha256('a=1\n')}`],
      [`file:${join(tmp(), 'absent.conf')}`, 'absent'],
      [`file:${empty}`, `600 ${me} ${group}\n${sha256('')}`],
      [`file:${link}`, 'other'],
      ['command:ok', '0'],
      ['command:needed', '1'],
      ['package:bash', 'bash ii'],
      ['sysctl:kernel.ostype', 'Linux\nread-only'],
      ['module:kubestrap_nope', 'absent'],
    ]);
    expect(diffResources(resources, probe, debianCtx).map((c) => c.resourceId)).toEqual([`file:${join(tmp(), 'absent.conf')}`, `file:${link}`, 'command:needed', 'module:kubestrap_nope']);
  });

  it('reads pending restarts from their section, once each', () => {
    const out = '\n@@kubestrap-section b-command\n0 0\n@@kubestrap-section pending-restarts\nkubelet\n docker \nkubelet\n\n';
    const resources: Resource[] = [{ kind: 'command', name: 'c', description: 'c', check: 'true', run: 'true' }];
    expect(parseProbe(out, resources)).toEqual({ observed: new Map([['command:c', '0']]), pendingRestarts: ['kubelet', 'docker'] });
  });

  it('gives a resource whose section is missing an empty observation', () => {
    const resources: Resource[] = [{ kind: 'hostname', name: 'm1' }];
    expect(parseProbe('', resources)).toEqual({ observed: new Map([['hostname', '']]), pendingRestarts: [] });
  });
});
