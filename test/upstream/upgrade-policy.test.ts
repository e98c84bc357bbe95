import { describe, expect, it } from 'vitest';
import { intermediateKube, parseVersion, skewViolations, upgradeRefusals, type ComponentVersions, type HostVersions } from '../../src/upstream/index.js';

const v = (text: string) => parseVersion(text)!;

/** A host at `running`, going to `wanted`, as `component@version` pairs. */
function host(name: string, running: Record<string, string>, wanted: Record<string, string>): HostVersions {
  const versions = (pairs: Record<string, string>) => Object.fromEntries(Object.entries(pairs).map(([c, t]) => [c, v(t)])) as ComponentVersions;
  return { host: name, running: versions(running), wanted: versions(wanted) };
}

const rules = (hosts: HostVersions[]) => upgradeRefusals(hosts).map((r) => r.rule);

describe('upgrade policy: the steps a version edit may take', () => {
  it('lets a cluster go up one Kubernetes minor, control plane and nodes together', () => {
    const hosts = [host('m1', { 'control-plane': '1.35.0', node: '1.35.0' }, { 'control-plane': '1.36.0', node: '1.36.0' }), host('w1', { node: '1.35.0' }, { node: '1.36.0' })];
    expect(upgradeRefusals(hosts)).toEqual([]);
  });

  it('refuses a minor skip, naming every host and the intermediate version', () => {
    const hosts = [host('m1', { 'control-plane': '1.35.0' }, { 'control-plane': '1.37.0' }), host('m2', { 'control-plane': '1.35.0' }, { 'control-plane': '1.37.0' })];
    const [skip] = upgradeRefusals(hosts);
    expect(skip?.rule).toBe('kubernetes-minor-skip');
    expect(skip?.hosts).toEqual(['m1', 'm2']);
    expect(skip?.way).toContain(`KUBE_VERSION=${intermediateKube(v('1.35.0'))}`);
    expect(intermediateKube(v('1.35.0'))).toBe('v1.36.0');
  });

  it('refuses a downgrade across minors and allows a patch back within one', () => {
    expect(rules([host('m1', { 'control-plane': '1.36.0' }, { 'control-plane': '1.35.0' })])).toEqual(['kubernetes-downgrade']);
    expect(rules([host('m1', { 'control-plane': '1.36.2' }, { 'control-plane': '1.36.0' })])).toEqual([]);
  });

  it('takes a host that runs nothing yet (a new one) as no step at all', () => {
    expect(rules([host('m1', { 'control-plane': '1.36.0' }, { 'control-plane': '1.36.0' }), host('new', {}, { node: '1.36.0' })])).toEqual([]);
  });

  it('takes etcd one minor at a time, saying where to stop', () => {
    const [skip] = upgradeRefusals([host('e1', { etcd: '3.4.23' }, { etcd: '3.6.14' })]);
    expect(skip?.rule).toBe('etcd-minor-skip');
    expect(skip?.way).toContain('ETCD_VERSION=v3.5.26');
    expect(rules([host('e1', { etcd: '3.4.23' }, { etcd: '3.5.30' })])).toEqual([]);
    expect(rules([host('e1', { etcd: '3.6.14' }, { etcd: '3.5.30' })])).toEqual(['etcd-downgrade']);
  });

  it('refuses etcd 3.6 while a member runs a 3.5 older than 3.5.26', () => {
    const hosts = [host('e1', { etcd: '3.5.21' }, { etcd: '3.6.14' }), host('e2', { etcd: '3.5.30' }, { etcd: '3.6.14' })];
    const [floor] = upgradeRefusals(hosts);
    expect(floor?.rule).toBe('etcd-3.5-too-old-for-3.6');
    expect(floor?.hosts).toEqual(['e1']);
  });
});

describe('upgrade policy: the skew a cluster may run', () => {
  const at = (name: string, versions: Record<string, string>) => ({ host: name, versions: Object.fromEntries(Object.entries(versions).map(([c, t]) => [c, v(t)])) as ComponentVersions });

  it('refuses a kubelet newer than the oldest API server', () => {
    const found = skewViolations([at('m1', { 'control-plane': '1.35.0' }), at('w1', { node: '1.36.0' })]);
    expect(found.map((r) => r.rule)).toEqual(['kubelet-newer-than-apiserver']);
    expect(found[0]!.hosts).toEqual(['w1']);
  });

  it('lets nodes trail the API servers by three minors, not four', () => {
    expect(skewViolations([at('m1', { 'control-plane': '1.36.0' }), at('w1', { node: '1.33.5' })])).toEqual([]);
    expect(skewViolations([at('m1', { 'control-plane': '1.36.0' }), at('w1', { node: '1.32.0' })]).map((r) => r.rule)).toEqual(['kubelet-too-old']);
  });

  it('refuses masters two minors apart, and a master whose controllers would outrun another API server', () => {
    const found = skewViolations([at('m1', { 'control-plane': '1.34.0' }), at('m2', { 'control-plane': '1.36.0' })]).map((r) => r.rule);
    expect(found).toEqual(['apiserver-spread', 'control-plane-newer-than-apiserver']);
  });

  it("refuses a containerd that upstream does not support under the node's Kubernetes", () => {
    const found = skewViolations([at('w1', { node: '1.36.0', containerd: '2.1.9' })]);
    expect(found.map((r) => r.rule)).toEqual(['containerd-unsupported']);
    expect(found[0]!.way).toContain('2.3.0+ or 2.2.0+');
    expect(skewViolations([at('w1', { node: '1.36.0', containerd: '2.2.1' })])).toEqual([]);
    // CONTAINERD_ALLOW_UNSUPPORTED waives it (a distribution's build), and only it.
    expect(skewViolations([at('w1', { node: '1.36.0', containerd: '2.1.9' })], { containerdUnsupported: true })).toEqual([]);
    const nodeAhead = skewViolations([at('m1', { 'control-plane': '1.35.0' }), at('w1', { node: '1.36.0', containerd: '2.1.9' })], { containerdUnsupported: true });
    expect(nodeAhead.map((r) => r.rule)).toEqual(['kubelet-newer-than-apiserver']);
  });

  it('refuses a version edit whose result breaks a skew rule, such as a node ahead of the masters', () => {
    const hosts = [host('m1', { 'control-plane': '1.35.0' }, { 'control-plane': '1.35.0' }), host('w1', { node: '1.35.0' }, { node: '1.36.0' })];
    expect(rules(hosts)).toEqual(['kubelet-newer-than-apiserver']);
  });
});
