import { describe, expect, it } from 'vitest';
import { TemplateError } from '../../src/errors.js';
import { parseTemplateHeader } from '../../src/render/template-header.js';

describe('template header', () => {
  it('reads mode, owner, group and the services to restart', () => {
    const { header, body, lineOffset } = parseTemplateHeader('{# kubestrap: mode=0600 owner=etcd group=etcd restarts=etcd,kube-proxy@x.service #}\nbody\n', 't');
    expect(header).toEqual({ mode: 0o600, owner: 'etcd', group: 'etcd', restarts: ['etcd', 'kube-proxy@x.service'] });
    expect([body, lineOffset]).toEqual(['body\n', 1]);
  });

  it('reads secret=true, and refuses anything but true or false', () => {
    expect(parseTemplateHeader('{# kubestrap: secret=true #}\n', 't').header.secret).toBe(true);
    expect(() => parseTemplateHeader('{# kubestrap: secret=yes #}\n', 't')).toThrow('secret "yes" is not true or false');
  });

  it.each(['--force', '-kubelet', 'kubelet;id', 'a b'])('refuses restarts=%s: a service name is never read as an option', (name) => {
    const run = () => parseTemplateHeader(`{# kubestrap: restarts=kubelet,${name} #}\n`, 'all/etc/x.conf');
    expect(run).toThrow(TemplateError);
    if (!name.includes(' ')) expect(run).toThrow(`restarts "${name}" is not a service name`);
  });
});
