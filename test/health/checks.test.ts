import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shRun } from '../engine/support.js';
import { etcdAuthCheck, hostChecks, nodesCheck } from '../../src/health/checks.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
  - { name: w2, address: 10.0.0.13, roles: [worker] }
`;

const NODES = JSON.stringify({
  items: [
    { metadata: { name: 'w1' }, spec: { podCIDR: '172.20.1.0/24' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    { metadata: { name: 'w2' }, spec: {}, status: { conditions: [{ type: 'MemoryPressure', status: 'False' }] } },
  ],
});

describe('nodesCheck', () => {
  const tmp = useTempDir();
  const rows = (mode: string, output: string) => {
    const spec = clusterFrom(tmp(), `KUBE_VERSION=v1.35.0\nFLANNEL_MODE=${mode}\n`, INVENTORY);
    return nodesCheck(spec, spec.hosts[0]!)
      .read(output)
      .map((r) => [r.check, r.host, r.ok, r.detail]);
  };

  it("reads every worker's Ready condition from one list of nodes", () => {
    expect(rows('etcd', `0\n${NODES}`)).toEqual([
      ['node Ready', 'w1', true, 'Ready=True'],
      ['node Ready', 'w2', false, 'Ready=Unknown'],
    ]);
  });

  it("in kube mode reads each worker's podCIDR from the same list", () => {
    expect(rows('kube', `0\n${NODES}`).filter(([check]) => check === 'node podCIDR (flannel)')).toEqual([
      ['node podCIDR (flannel)', 'w1', true, '172.20.1.0/24'],
      ['node podCIDR (flannel)', 'w2', false, 'no podCIDR yet'],
    ]);
    expect(rows('kube', '1\nconnection refused').every(([, , ok, detail]) => ok === false && String(detail).includes('connection refused'))).toBe(true);
  });
});

describe('etcdAuthCheck', () => {
  const tmp = useTempDir();
  const rows = (output: string) => {
    const spec = clusterFrom(tmp(), '', INVENTORY);
    return etcdAuthCheck(spec, spec.hosts[0]!)
      .read(output)
      .map((r) => [r.ok, r.detail]);
  };

  it('is ok when the health check is refused a key outside its grants, and fails when it may read it (authentication off)', () => {
    expect(rows('1\n{"level":"warn"}\nError: etcdserver: permission denied')).toEqual([[true, 'on: each client reaches only its own keys']]);
    expect(rows('0\n')).toEqual([[false, expect.stringMatching(/^authentication is off: any client certificate of the etcd CA reads and writes every key/)]]);
    expect(rows('1\nError: context deadline exceeded')).toEqual([[false, 'etcdctl on m1: Error: context deadline exceeded']]);
  });
});

describe('hostChecks', () => {
  const tmp = useTempDir();
  const keys = (mode: string, name: string) => {
    const spec = clusterFrom(tmp(), `FLANNEL_MODE=${mode}\n`, INVENTORY);
    return hostChecks(spec, spec.hosts.find((h) => h.name === name)!).map((c) => c.key);
  };

  it('checks what runs on each host: flanneld on a master only where the catalog runs it', () => {
    expect(keys('etcd', 'm1')).toEqual(['service:etcd', 'etcd-health', 'apiserver', 'controller-manager', 'scheduler', 'service:flanneld']);
    expect(keys('kube', 'm1')).toEqual(['service:etcd', 'etcd-health', 'apiserver', 'controller-manager', 'scheduler']);
    expect(keys('kube', 'w1')).toEqual(['service:flanneld', 'service:containerd', 'service:kubelet', 'service:kube-proxy', 'subnet']);
  });

  it('says that curl is missing, and how to get it, where a host lacks it: not the shell\'s "curl: not found" as the component\'s state', () => {
    const spec = clusterFrom(tmp(), '', INVENTORY);
    const apiserver = hostChecks(spec, spec.hosts[0]!).find((c) => c.key === 'apiserver')!;
    // A PATH that holds the shell and nothing else.
    const bin = tmp();
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const out = shRun(apiserver.script, { PATH: bin }).stdout;
    expect(apiserver.read(out)).toEqual([
      {
        check: 'API server /readyz',
        host: 'm1',
        ok: false,
        detail:
          "curl is not installed on this host (kubestrap runs it for the readiness checks and `bootstrap health`, which read the components' health endpoints): run bootstrap apply --phase os, which installs it, or install the curl package",
      },
    ]);
  });

  it('asks each control-plane component on its own health endpoint', () => {
    const spec = clusterFrom(tmp(), 'KUBE_APISERVER_PORT=7443\n', INVENTORY);
    const scripts = Object.fromEntries(hostChecks(spec, spec.hosts[0]!).map((c) => [c.key, c.script]));
    expect(scripts.apiserver).toContain('--cacert /etc/kubernetes/pki/ca.crt https://127.0.0.1:7443/readyz');
    expect(scripts['controller-manager']).toContain('-k https://127.0.0.1:10257/healthz');
    expect(scripts.scheduler).toContain('-k https://127.0.0.1:10259/healthz');
    expect(scripts['etcd-health']).toContain('--endpoints=https://10.0.0.11:2379');
  });
});
