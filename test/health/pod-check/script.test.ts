import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientManifest, namespaceManifest, serverManifest } from '../../../src/health/pod-check/manifests.js';
import { podCheckRows } from '../../../src/health/pod-check/rows.js';
import { podCheckScript } from '../../../src/health/pod-check/script.js';
import { shRun } from '../../engine/support.js';
import { useTempDir } from '../../support/tmp.js';

const NODES = [{ name: 'node-a' }, { name: 'node-b' }, { name: 'node-c' }];
const INPUT = { nodes: NODES, image: 'registry.k8s.io/e2e-test-images/busybox:1.36.1-1', clusterDomain: 'cluster.local' };

interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  spec: { nodeName: string; tolerations: unknown[]; restartPolicy: string; containers: Array<{ image: string; command: string[]; env?: Array<{ name: string; value: string }> }> };
}

describe('pod check manifests', () => {
  it('a server pod per node, pinned and tolerating every taint, a Service selecting them, in the check namespace', () => {
    expect(JSON.parse(namespaceManifest())).toMatchObject({ kind: 'Namespace', metadata: { name: 'kubestrap-health' } });
    const list = JSON.parse(serverManifest(INPUT)) as { items: Array<{ kind: string; metadata: { name: string; namespace?: string } }> };
    expect(list.items.map((i) => `${i.kind}/${i.metadata.name}/${i.metadata.namespace}`)).toEqual([
      'Service/kubestrap-health/kubestrap-health',
      'Pod/server-0/kubestrap-health',
      'Pod/server-1/kubestrap-health',
      'Pod/server-2/kubestrap-health',
    ]);
    const pods = list.items.slice(1) as unknown as Pod[];
    expect(pods.map((p) => p.spec.nodeName)).toEqual(['node-a', 'node-b', 'node-c']);
    expect(pods[0]!.spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pods[0]!.spec.containers[0]!.image).toBe(INPUT.image);
    expect(pods[0]!.spec.containers[0]!.command.at(-1)).toContain('httpd -f -p 8080');
  });

  it("each client targets the next node's server by a placeholder the script fills in, and the Service's IP", () => {
    const pods = (JSON.parse(clientManifest(INPUT)) as { items: Pod[] }).items;
    const env = (p: Pod) => Object.fromEntries((p.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
    expect(pods.map((p) => [p.metadata.name, p.spec.nodeName, env(p).PEER_NODE, env(p).PEER_IP])).toEqual([
      ['client-0', 'node-a', 'node-b', '@@PEER_IP_1@@'],
      ['client-1', 'node-b', 'node-c', '@@PEER_IP_2@@'],
      ['client-2', 'node-c', 'node-a', '@@PEER_IP_0@@'],
    ]);
    expect(env(pods[0]!)).toMatchObject({ LOOKUP: 'kubernetes.default.svc.cluster.local', SERVICE_IP: '@@SERVICE_IP@@' });
    expect(pods[0]!.spec.restartPolicy).toBe('Never');
  });

  it('one node: no pod-to-pod target', () => {
    const pods = (JSON.parse(clientManifest({ ...INPUT, nodes: [{ name: 'solo' }] })) as { items: Pod[] }).items;
    expect(pods[0]!.spec.containers[0]!.env!.find((e) => e.name === 'PEER_NODE')!.value).toBe('');
  });
});

/**
 * The script against a fake kubectl: it answers from files (the servers' and clients' `get pods
 * -o wide` tables, the clients' JSON), records what was applied and deleted.
 */
describe('pod check script', () => {
  const tmp = useTempDir();

  function run(servers: string, clients: string, results: string[]) {
    const dir = tmp();
    writeFileSync(join(dir, 'servers'), servers);
    writeFileSync(join(dir, 'clients'), clients);
    writeFileSync(join(dir, 'json'), JSON.stringify({ items: results.map((r) => ({ status: { containerStatuses: [{ state: { terminated: { message: r } } }] } })) }, null, 4));
    const fake = join(dir, 'kubectl');
    writeFileSync(
      fake,
      [
        '#!/bin/sh',
        `d=${dir}`,
        'echo "$*" >> $d/calls',
        'case "$*" in',
        '  "get namespace kubestrap-health -o name") [ -e $d/ns ] && echo namespace/kubestrap-health || exit 1;;',
        '  "delete namespace kubestrap-health") rm -f $d/ns;;',
        '  "apply -f -") cat >> $d/applied; touch $d/ns;;',
        '  *"kubestrap-health=server -o wide --no-headers") cat $d/servers;;',
        '  "-n kubestrap-health get serviceaccount default -o name") echo serviceaccount/default;;',
        '  *"kubestrap-health=client -o wide --no-headers") cat $d/clients;;',
        '  *"kubestrap-health=client -o json") cat $d/json;;',
        '  *"get service kubestrap-health --no-headers") echo "kubestrap-health ClusterIP 10.96.7.7 <none> 80/TCP 3s";;',
        '  *) echo "unexpected: $*" >&2; exit 1;;',
        'esac',
      ].join('\n'),
    );
    chmodSync(fake, 0o755);
    const r = shRun(podCheckScript({ ...INPUT, kubectl: fake }));
    const calls = readFileSync(join(dir, 'calls'), 'utf8');
    const applied = readFileSync(join(dir, 'applied'), 'utf8');
    return {
      ...r,
      rows: podCheckRows(
        r.stdout,
        NODES.map((n) => n.name),
      ),
      calls,
      applied,
      nsLeft: shRun(`[ -e ${dir}/ns ]`).code === 0,
    };
  }

  const wide = (pod: string, status: string, ip: string, node: string) => `${pod}   ${status === 'Running' ? '1/1' : '0/1'}   ${status}   0   5s   ${ip}   ${node}   <none>   <none>\n`;
  const servers = wide('server-0', 'Running', '10.244.0.5', 'node-a') + wide('server-1', 'Running', '10.244.1.5', 'node-b') + wide('server-2', 'Running', '10.244.2.5', 'node-c');
  const clients = wide('client-0', 'Completed', '10.244.0.6', 'node-a') + wide('client-1', 'Error', '10.244.1.6', 'node-b') + wide('client-2', 'Completed', '10.244.2.6', 'node-c');

  it('all well: a row per node and check, the IPs filled into the clients, the namespace deleted', () => {
    const r = run(servers, clients.replace('Error', 'Completed'), [
      'KSRESULT node=0 dns=ok:10.96.0.1 pod=ok:node-b svc=ok:node-c',
      'KSRESULT node=1 dns=ok:10.96.0.1 pod=ok:node-c svc=ok:node-a',
      'KSRESULT node=2 dns=ok:10.96.0.1 pod=ok:node-a svc=ok:node-b',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.rows.filter((x) => !x.ok)).toEqual([]);
    expect(r.rows.map((x) => `${x.check} ${x.host}`)).toHaveLength(12);
    expect(r.rows.find((x) => x.check === 'pod to pod (other node)' && x.host === 'node-a')!.detail).toBe('reached the pod on node-b');
    expect(r.applied).toContain('"value":"10.244.1.5"');
    expect(r.applied).toContain('"value":"10.96.7.7"');
    expect(r.applied).not.toContain('@@');
    expect(r.nsLeft).toBe(false);
  });

  it("a node's failures name it and what failed, with what to look at; exit 1, and the namespace is deleted all the same", () => {
    const r = run(servers, clients, [
      'KSRESULT node=0 dns=ok:10.96.0.1 pod=fail:wget:_download_timed_out svc=ok:node-c',
      'KSRESULT node=1 dns=fail:nslookup:_timed_out pod=ok:node-c svc=fail:wget:_can_t_connect',
      'KSRESULT node=2 dns=ok:10.96.0.1 pod=ok:node-a svc=ok:node-b',
    ]);
    expect(r.code).toBe(1);
    const failed = r.rows.filter((x) => !x.ok).map((x) => `${x.check} ${x.host}: ${x.detail}`);
    expect(failed).toEqual([
      expect.stringMatching(
        /^pod to pod \(other node\) node-a: a pod on node-a cannot reach the pod on node-b by its IP, port 8080 \(wget:_download_timed_out\): look at flanneld on node-a and node-b/,
      ),
      expect.stringMatching(/^pod DNS node-b: a pod on node-b cannot resolve kubernetes.default.svc.cluster.local through the cluster DNS .*CoreDNS/),
      expect.stringMatching(/^pod to Service node-b: a pod on node-b gets no answer from the Service 10.96.7.7:80 .*kube-proxy on node-b/),
    ]);
    expect(r.nsLeft).toBe(false);
  });

  it("a server that cannot start says the kubelet's reason; its peer's pod-to-pod check says it was not checked", () => {
    const broken = servers.replace(/server-1 .*\n/, wide('server-1', 'ImagePullBackOff', '10.244.1.5', 'node-b'));
    const r = run(broken, clients, ['KSRESULT node=0 dns=ok:10.96.0.1 pod=skip:no-server svc=ok:node-c', 'KSRESULT node=2 dns=ok:10.96.0.1 pod=ok:node-a svc=ok:node-c']);
    expect(r.code).toBe(1);
    const failed = r.rows.filter((x) => !x.ok).map((x) => `${x.check} ${x.host}: ${x.detail}`);
    expect(failed[0]).toMatch(/^pod starts node-b: the image registry.k8s.io\/e2e-test-images\/busybox:1.36.1-1 could not be pulled \(ImagePullBackOff\).*journalctl -u containerd on node-b$/);
    expect(failed).toContain('pod to pod (other node) node-a: not checked: the server pod on node-b is not running');
    expect(failed).toContain("pod DNS node-b: the check's client pod on node-b did not finish (Error): look at journalctl -u kubelet and -u containerd on node-b");
    expect(r.applied).toContain('"name":"PEER_IP","value":""');
  });

  it('rows for nodes the output does not mention: the command failed', () => {
    expect(podCheckRows('', ['n1'], 'timed out after 300 s')).toEqual([{ check: 'pod starts', host: 'n1', ok: false, detail: 'pod check on a master: timed out after 300 s' }]);
  });
});
