import { describe, expect, it } from 'vitest';
import { detectOs } from '../../src/os/detect.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { hostValues } from '../../src/phases/index.js';
import { runsOn } from '../../src/components/catalog.js';
import { networkPhase } from '../../src/phases/network.js';
import { renderCluster } from '../../src/render/render-cluster.js';
import { factsFor } from '../os/os-releases.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: m2, address: 10.0.0.12, roles: [etcd, master, worker] }
  - { name: w1, address: 10.0.0.13, roles: [worker] }
`;

describe('network phase', () => {
  const tmp = useTempDir();

  function resourcesOf(mode: string, name: string) {
    const spec = clusterFrom(tmp(), `KUBE_VERSION=v1.35.0\nFLANNEL_MODE=${mode}\n`, INVENTORY);
    const { hosts } = renderCluster(spec, BUNDLED_UNITS, (h) => hostValues(h, undefined));
    const host = spec.hosts.find((h) => h.name === name)!;
    const files = hosts.find((h) => h.host === host)!.files;
    const facts = factsFor('debian12');
    return { spec, host, resources: networkPhase.resources({ spec, host, files, facts, os: detectOs(host.name, facts) }) };
  }
  const flanneld = (r: ReturnType<typeof resourcesOf>['resources']) => r.filter((x) => x.kind === 'service' && x.name === 'flanneld');

  it('runs flanneld on every master and worker in etcd mode, as the seeds do', () => {
    for (const name of ['m1', 'm2', 'w1']) {
      const { spec, host, resources } = resourcesOf('etcd', name);
      expect(runsOn(spec, host, 'flanneld')).toBe(true);
      expect(flanneld(resources)).toHaveLength(1);
    }
  });

  it('in kube mode leaves out a master without a kubelet: it has no Node whose podCIDR flanneld could follow', () => {
    const master = resourcesOf('kube', 'm1');
    expect(runsOn(master.spec, master.host, 'flanneld')).toBe(false);
    // Nothing but removing where its record was before the host record kept it.
    expect(master.resources.map((r) => r.kind)).toEqual(['absent']);
    for (const name of ['m2', 'w1']) expect(flanneld(resourcesOf('kube', name).resources)).toHaveLength(1);
  });
});
