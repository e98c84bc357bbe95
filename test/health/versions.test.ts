import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HealthRow } from '../../src/health/checks.js';
import { SKEW_CHECK, skewRows, versionsCheck } from '../../src/health/versions.js';
import { shRun } from '../engine/support.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
`;

/** A BIN_PATH whose programs print what the real ones print first for --version. */
function binaries(dir: string, said: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, line] of Object.entries(said)) {
    writeFileSync(join(dir, name), `#!/bin/sh\necho '${line}'\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

const row = (check: string, host: string, ok: boolean, detail: string): HealthRow => ({ check, host, ok, detail });

describe('health: the version each component runs', () => {
  const tmp = useTempDir();

  it("reads each binary's --version on the host and says the version the config wants where it differs", () => {
    const bin = binaries(join(tmp(), 'bin'), {
      etcd: 'etcd Version: 3.5.30',
      'kube-apiserver': 'Kubernetes v1.35.0',
      'kube-controller-manager': 'Kubernetes v1.35.0',
      'kube-scheduler': 'Kubernetes v1.35.0',
    });
    const spec = clusterFrom(tmp(), `KUBE_VERSION=v1.36.0\nETCD_VERSION=v3.5.30\nBIN_PATH=${bin}\n`, INVENTORY);
    const check = versionsCheck(spec.hosts[0]!);
    expect(check.read(shRun(check.script).stdout)).toEqual([
      row('etcd version', 'm1', true, 'v3.5.30'),
      row('kube-apiserver version', 'm1', true, 'v1.35.0 (config wants v1.36.0: bootstrap apply upgrades it)'),
      row('kube-controller-manager version', 'm1', true, 'v1.35.0 (config wants v1.36.0: bootstrap apply upgrades it)'),
      row('kube-scheduler version', 'm1', true, 'v1.35.0 (config wants v1.36.0: bootstrap apply upgrades it)'),
    ]);
  });

  it('fails the row of a component that does not say a version', () => {
    const bin = binaries(join(tmp(), 'bin'), { kubelet: 'Kubernetes v1.36.0', 'kube-proxy': 'Kubernetes v1.36.0', containerd: 'containerd github.com/containerd/containerd 2.1.9~ds1 1' });
    const spec = clusterFrom(tmp(), `KUBE_VERSION=v1.36.0\nBIN_PATH=${bin}\n`, INVENTORY);
    const check = versionsCheck(spec.hosts[1]!);
    const rows = check.read(shRun(check.script).stdout);
    expect(rows.map((r) => [r.check, r.ok, r.detail])).toEqual([
      ['kubelet version', true, 'v1.36.0'],
      ['kube-proxy version', true, 'v1.36.0'],
      ['containerd version', true, 'v2.1.9'],
    ]);
    const missing = versionsCheck(clusterFrom(tmp(), `BIN_PATH=${join(tmp(), 'empty')}\n`, INVENTORY).hosts[0]!);
    expect(missing.read(shRun(missing.script).stdout).every((r) => !r.ok && /not found|No such file/.test(r.detail))).toBe(true);
  });

  it('passes a mix the skew policy allows, naming the versions seen', () => {
    const rows = [
      row('kube-apiserver version', 'm1', true, 'v1.36.0'),
      row('kubelet version', 'w1', true, 'v1.35.0 (config wants v1.36.0: bootstrap apply upgrades it)'),
      row('containerd version', 'w1', true, 'v2.2.1'),
    ];
    expect(skewRows(rows)).toEqual([row(SKEW_CHECK, '-', true, "within upstream's policy: control-plane v1.36.0, node v1.35.0, containerd v2.2.1")]);
  });

  it('fails on a kubelet ahead of the API server and on a containerd its Kubernetes does not support, with the way forward', () => {
    const rows = [row('kube-apiserver version', 'm1', true, 'v1.35.0'), row('kubelet version', 'w1', true, 'v1.36.0'), row('containerd version', 'w1', true, 'v2.1.9')];
    const found = skewRows(rows);
    expect(found.map((r) => [r.check, r.host, r.ok])).toEqual([
      [SKEW_CHECK, 'w1', false],
      [SKEW_CHECK, 'w1', false],
    ]);
    expect(found[0]!.detail).toContain('rule kubelet-newer-than-apiserver');
    expect(found[1]!.detail).toContain('rule containerd-unsupported');
  });

  it('takes a containerd outside the table as within policy when CONTAINERD_ALLOW_UNSUPPORTED waives it', () => {
    const rows = [row('kube-apiserver version', 'm1', true, 'v1.36.0'), row('kubelet version', 'w1', true, 'v1.36.0'), row('containerd version', 'w1', true, 'v2.1.9')];
    expect(skewRows(rows, { containerdUnsupported: true }).map((r) => r.ok)).toEqual([true]);
  });

  it('says nothing when no host said a version', () => {
    expect(skewRows([row('etcd version', 'm1', false, 'no answer')])).toEqual([]);
  });
});
