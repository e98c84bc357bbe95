import { describe, expect, it } from 'vitest';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { hostValues } from '../../src/phases/index.js';
import { renderCluster } from '../../src/render/render-cluster.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: m2, address: 10.0.0.12, roles: [master, worker] }
  - { name: w1, address: 10.0.0.13, roles: [worker] }
`;

/**
 * --enable-aggregator-routing has the API server dial the pods behind an aggregated API or a
 * webhook: it works on a master that runs flanneld (on the pod network), and cannot on one that
 * runs neither flanneld nor kube-proxy (FLANNEL_MODE=kube, a master that is not a worker).
 */
describe("the API server's aggregator routing", () => {
  const tmp = useTempDir();
  const routed = (config: string) => {
    const spec = clusterFrom(tmp(), config, INVENTORY);
    const { hosts, problems } = renderCluster(spec, BUNDLED_UNITS, (h) => hostValues(h, undefined));
    expect(problems).toEqual([]);
    const unit = (name: string) => hosts.find((h) => h.host.name === name)!.files.find((f) => f.path === '/etc/systemd/system/kube-apiserver.service')!.content;
    return { m1: unit('m1').includes('--enable-aggregator-routing=true'), m2: unit('m2').includes('--enable-aggregator-routing=true'), warnings: spec.warnings };
  };

  it('is on for every master in etcd mode, where every master runs flanneld', () => {
    expect(routed('')).toEqual({ m1: true, m2: true, warnings: [] });
  });

  it('is left out on a master in kube mode that is no worker, with a warning that says what fails there and how to avoid it', () => {
    const { m1, m2, warnings } = routed('FLANNEL_MODE=kube\n');
    expect({ m1, m2 }).toEqual({ m1: false, m2: true });
    expect(warnings).toEqual([
      {
        where: expect.stringMatching(/config\.properties:1 FLANNEL_MODE$/) as unknown,
        message:
          'in kube mode, masters that are not workers run neither flanneld nor kube-proxy (m1): their API servers cannot reach pods, so aggregated APIs (metrics-server, kubectl top) and admission webhooks served from pods fail there (--enable-aggregator-routing is left out, as it cannot work)',
        hint: 'give the masters the worker role as well (they stay tainted NoSchedule unless MASTER_SCHEDULABLE=true), or use FLANNEL_MODE=etcd, in which every master runs flanneld',
      },
    ]);
  });
});
