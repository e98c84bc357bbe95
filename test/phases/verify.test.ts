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
    const [wait, pods] = verifyPhase.clusterActions!({ spec, mode: 'apply', hosts });
    return { spec, wait: wait!, pods };
  }

  it('then runs the pod check where the nodes it last passed on are not the live ones, and records them when it passes', () => {
    const { spec, pods } = action();
    expect(pods!.name).toBe('pods-work');
    const script = (s: NonNullable<typeof pods>['run'], live: string[]) => (typeof s === 'string' ? s : s!(spec.hosts[0]!, live));
    expect(script(pods!.check, ['m1', 'w1', 'w2'])).toMatch(/get configmap\/kubestrap-pod-check -o 'jsonpath=\{\.data\.nodes\}' 2>\/dev\/null\)" = 'w1\nw2' \]$/);
    const run = script(pods!.run, ['m1', 'w1', 'w2']);
    // Recorded in the cluster, where the next run's check reads it through the API.
    expect(run).toContain(`'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kubestrap-pod-check","namespace":"kube-system"},"data":{"nodes":"w1\\nw2"}}'`);
    // Valid sh: no `$((` where a command substitution opens a subshell.
    expect(spawnSync('sh', ['-n'], { input: run, encoding: 'utf8' }).status).toBe(0);
    expect(action('VERIFY_PODS=false\n').pods).toBeUndefined();
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
