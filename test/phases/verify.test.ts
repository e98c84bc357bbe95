import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ClusterContext } from '../../src/phases/context.js';
import { verifyPhase } from '../../src/phases/verify.js';
import { answer, useApiServer } from '../support/api-server.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
  - { name: w2, address: 10.0.0.13, roles: [worker] }
`;

describe('verify phase', () => {
  const tmp = useTempDir();
  const serve = useApiServer(tmp, INVENTORY);

  function action(config = '') {
    const spec = clusterFrom(tmp(), `KUBE_VERSION=v1.35.0\n${config}`, INVENTORY);
    const hosts = spec.hosts.map((host) => ({ host }) as ClusterContext['hosts'][number]);
    const [wait, pods, record] = verifyPhase.clusterActions!({ spec, mode: 'apply', hosts });
    return { spec, wait: wait!, pods, record };
  }

  it('then runs the pod check on a master, with nothing of its record in the script', () => {
    const { spec, pods, record } = action();
    expect([pods!.name, record!.name]).toEqual(['pods-work', 'pods-work-recorded']);
    expect([pods!.check, record!.check, record!.run]).toEqual([undefined, undefined, undefined]);
    const run = typeof pods!.run === 'function' ? pods!.run(spec.hosts[0]!, ['m1', 'w1', 'w2']) : '';
    expect(run).toContain('ks-row');
    expect(run).not.toContain('kubestrap-pod-check');
    // Valid sh: no `$((` where a command substitution opens a subshell.
    expect(spawnSync('sh', ['-n'], { input: run, encoding: 'utf8' }).status).toBe(0);
    expect(action('VERIFY_PODS=false\n').pods).toBeUndefined();
  });

  it('records, by the controller through the API, the nodes the check passed on, and runs it again where they are not the live ones', async () => {
    let stored: unknown;
    const { spec, channel, seen } = await serve((req, res) => {
      if (req.method === 'PATCH') stored = JSON.parse(req.body);
      answer(res, req.method === 'GET' && !stored ? 404 : 200, stored ?? { kind: 'Status', code: 404, message: 'not found' });
    });
    const hosts = spec.hosts.map((host) => ({ host }) as ClusterContext['hosts'][number]);
    const [, pods, record] = verifyPhase.clusterActions!({ spec, mode: 'apply', hosts });
    const m1 = spec.hosts[0]!;
    expect([await pods!.query!(channel, m1, ['m1', 'w1', 'w2']), await record!.query!(channel, m1, ['m1', 'w1', 'w2'])]).toEqual([false, false]);
    await record!.apply!(channel, m1, ['m1', 'w1', 'w2']);
    expect(stored).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kubestrap-pod-check', namespace: 'kube-system' }, data: { nodes: 'w1\nw2' } });
    expect(await pods!.query!(channel, m1, ['m1', 'w1', 'w2'])).toBe(true);
    // w2 down this run: the check runs again on the nodes there are.
    expect(await pods!.query!(channel, m1, ['m1', 'w1'])).toBe(false);
    expect(seen.find((r) => r.method === 'PATCH')?.url).toBe('/api/v1/namespaces/kube-system/configmaps/kubestrap-pod-check?fieldManager=kubestrap&force=true');
  });

  it('waits, by the controller through the API, for the nodes of the hosts still fine, not for one that failed or was down', async () => {
    let asked = 0;
    const { spec, channel, seen } = await serve((_req, res) => {
      asked++;
      // w1 never Ready; w2 Ready from the second list on.
      const node = (name: string, ready: boolean) => ({ metadata: { name }, status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } });
      answer(res, 200, { items: [node('w1', false), node('w2', asked > 1)] });
    });
    const hosts = spec.hosts.map((host) => ({ host }) as ClusterContext['hosts'][number]);
    const [wait] = verifyPhase.clusterActions!({ spec, mode: 'apply', hosts });
    expect(wait!.candidates).toEqual(['m1']);
    expect(await wait!.query!(channel, spec.hosts[0]!, ['m1', 'w2'])).toBe(false);
    await wait!.apply!(channel, spec.hosts[0]!, ['m1', 'w2']);
    expect(await wait!.query!(channel, spec.hosts[0]!, ['m1', 'w2'])).toBe(true);
    expect(await wait!.query!(channel, spec.hosts[0]!, ['m1', 'w1', 'w2'])).toBe(false);
    expect(new Set(seen.map((r) => `${r.user} ${r.method} ${r.url}`))).toEqual(new Set(['kubestrap-admin GET /api/v1/nodes']));
  }, 20_000);
});
