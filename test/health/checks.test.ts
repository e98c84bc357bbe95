import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shRun } from '../engine/support.js';
import { NodeListSchema } from '../../src/cluster-api/kube-objects.js';
import { apiserverReadyCheck, etcdAuthCheck, etcdMembersCheck, hostChecks, memberListRow, nodeRows, nodesCheck, type HealthIdentities } from '../../src/health/checks.js';
import { clientIdentity } from '../../src/pki/client-identities.js';
import { answer, useApiServer } from '../support/api-server.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
  - { name: w2, address: 10.0.0.13, roles: [worker] }
`;

const NODES = NodeListSchema.parse({
  items: [
    { metadata: { name: 'w1' }, spec: { podCIDR: '172.20.1.0/24' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    { metadata: { name: 'w2' }, spec: {}, status: { conditions: [{ type: 'MemoryPressure', status: 'False' }] } },
  ],
}).items;

/** The identities are never read: the channel fails first, as a host whose sshd refuses forwarding. */
const NO_IDENTITIES: HealthIdentities = () => {
  throw new Error('not asked');
};
const refused = () => Promise.reject(new Error('open failed: connection refused'));

describe('nodesCheck', () => {
  const tmp = useTempDir();
  const rows = (kubeMode: boolean) => nodeRows(['w1', 'w2'], kubeMode, NODES).map((r) => [r.check, r.host, r.ok, r.detail]);

  it("reads every worker's Ready condition from one list of nodes", () => {
    expect(rows(false)).toEqual([
      ['node Ready', 'w1', true, 'Ready=True'],
      ['node Ready', 'w2', false, 'Ready=Unknown'],
    ]);
    expect(nodeRows(['w3'], false, NODES)).toEqual([{ check: 'node Ready', host: 'w3', ok: false, detail: 'not registered' }]);
  });

  it("in kube mode reads each worker's podCIDR from the same list", () => {
    expect(rows(true).filter(([check]) => check === 'node podCIDR (flannel)')).toEqual([
      ['node podCIDR (flannel)', 'w1', true, '172.20.1.0/24'],
      ['node podCIDR (flannel)', 'w2', false, 'no podCIDR yet'],
    ]);
  });

  it("fails every node's rows with the request's error when the API server cannot be asked", async () => {
    const spec = clusterFrom(tmp(), 'FLANNEL_MODE=kube\n', INVENTORY);
    const failed = await nodesCheck(spec, spec.hosts[0]!, NO_IDENTITIES).query(refused);
    expect(failed.map((r) => [r.check, r.host, r.ok])).toEqual([
      ['node Ready', 'w1', false],
      ['node podCIDR (flannel)', 'w1', false],
      ['node Ready', 'w2', false],
      ['node podCIDR (flannel)', 'w2', false],
    ]);
    expect(failed[0]!.detail).toContain('not asked');
  });
});

describe('etcdAuthCheck', () => {
  const tmp = useTempDir();

  it('fails, saying why, when etcd cannot be asked', async () => {
    const spec = clusterFrom(tmp(), '', INVENTORY);
    const ids: HealthIdentities = () => ({ ca: '', cert: '', key: '' });
    expect(await etcdAuthCheck(spec, spec.hosts[0]!, ids).query(refused)).toEqual([
      { check: 'etcd access control', host: 'm1', ok: false, detail: 'm1 etcd 127.0.0.1:2379 KV/Range: open failed: connection refused' },
    ]);
  });
});

describe('etcdMembersCheck', () => {
  const tmp = useTempDir();
  const member = (name: string, ip: string) => ({ id: name.length.toString(16), started: name !== '', name, peerUrls: [`https://${ip}:2380`], clientUrls: [], isLearner: false });

  it("reads etcd's list against the inventory: started members, and a member the inventory has no etcd host for", () => {
    const spec = clusterFrom(tmp(), '', INVENTORY);
    expect(memberListRow(spec, spec.hosts[0]!, [member('m1', '10.0.0.11')])).toMatchObject({ ok: true, detail: '1 members started: m1' });
    expect(memberListRow(spec, spec.hosts[0]!, [member('', '10.0.0.11'), member('old', '10.0.0.99')])).toMatchObject({
      ok: false,
      detail: 'not started members: m1; members the inventory does not have as etcd hosts: old https://10.0.0.99:2380 (etcdctl member remove, or mark the host remove: true and apply)',
    });
  });

  it('fails, saying which request failed, when the member cannot be asked', async () => {
    const spec = clusterFrom(tmp(), '', INVENTORY);
    const ids: HealthIdentities = () => ({ ca: '', cert: '', key: '' });
    expect(await etcdMembersCheck(spec, spec.hosts[0]!, ids).query(refused)).toEqual([
      { check: 'etcd member list', host: 'm1', ok: false, detail: 'm1 etcd 127.0.0.1:2379 Cluster/MemberList: open failed: connection refused' },
    ]);
  });
});

describe('apiserverReadyCheck', () => {
  const tmp = useTempDir();
  const serve = useApiServer(tmp, INVENTORY);

  it("asks the master's API server for /readyz through its channel: ok, or the checks it lists as failed", async () => {
    let ready = true;
    const { spec, channel, seen } = await serve((_req, res) => (ready ? answer(res, 200, 'ok') : answer(res, 500, '[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed')));
    const check = apiserverReadyCheck(spec, spec.hosts[0]!, (name) => clientIdentity(spec, name));
    expect(await check.query(channel)).toEqual([{ check: 'API server /readyz', host: 'm1', ok: true, detail: 'ok' }]);
    ready = false;
    expect(await check.query(channel)).toEqual([{ check: 'API server /readyz', host: 'm1', ok: false, detail: '[-]etcd failed: reason withheld' }]);
    expect(seen.map((r) => `${r.user} ${r.method} ${r.url}`)).toEqual(['kubestrap-admin GET /readyz', 'kubestrap-admin GET /readyz']);
  });
});

describe('hostChecks', () => {
  const tmp = useTempDir();
  const keys = (mode: string, name: string) => {
    const spec = clusterFrom(tmp(), `FLANNEL_MODE=${mode}\n`, INVENTORY);
    return hostChecks(spec, spec.hosts.find((h) => h.name === name)!).map((c) => c.key);
  };

  it('checks what runs on each host: flanneld on a master only where the catalog runs it', () => {
    expect(keys('etcd', 'm1')).toEqual(['service:etcd', 'controller-manager', 'scheduler', 'service:flanneld']);
    expect(keys('kube', 'm1')).toEqual(['service:etcd', 'controller-manager', 'scheduler']);
    expect(keys('kube', 'w1')).toEqual(['service:flanneld', 'service:containerd', 'service:kubelet', 'service:kube-proxy', 'subnet']);
  });

  it('says that curl is missing, and how to get it, where a host lacks it: not the shell\'s "curl: not found" as the component\'s state', () => {
    const spec = clusterFrom(tmp(), '', INVENTORY);
    const controllerManager = hostChecks(spec, spec.hosts[0]!).find((c) => c.key === 'controller-manager')!;
    // A PATH that holds the shell and nothing else.
    const bin = tmp();
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const out = shRun(controllerManager.script, { PATH: bin }).stdout;
    expect(controllerManager.read(out)).toEqual([
      {
        check: 'controller-manager /healthz',
        host: 'm1',
        ok: false,
        detail:
          "curl is not installed on this host (kubestrap runs it for the readiness checks and `bootstrap health`, which read the components' health endpoints): run bootstrap apply --phase os, which installs it, or install the curl package",
      },
    ]);
  });

  it("asks the controller-manager and the scheduler on their own health endpoints (the API server is the controller's request)", () => {
    const spec = clusterFrom(tmp(), 'KUBE_APISERVER_PORT=7443\n', INVENTORY);
    const scripts = Object.fromEntries(hostChecks(spec, spec.hosts[0]!).map((c) => [c.key, c.script]));
    expect(scripts.apiserver).toBeUndefined();
    expect(scripts['controller-manager']).toContain('-k https://127.0.0.1:10257/healthz');
    expect(scripts.scheduler).toContain('-k https://127.0.0.1:10259/healthz');
  });
});
