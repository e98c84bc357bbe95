import { describe, expect, it } from 'vitest';
import { PKI_PATHS } from '../../src/components/paths.js';
import type { ClusterSpec } from '../../src/config/cluster-spec.js';
import { InvalidInputError } from '../../src/errors.js';
import type { FileResource, ServiceResource } from '../../src/engine/resource.js';
import { detectOs } from '../../src/os/detect.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { apiLbPhase } from '../../src/phases/api-lb.js';
import { hostValues } from '../../src/phases/index.js';
import { hostPkiFiles } from '../../src/pki/host-layout.js';
import { renderCluster } from '../../src/render/render-cluster.js';
import { factsFor } from '../os/os-releases.js';
import { PKI_INVENTORY } from '../pki/support.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

describe('api-lb phase: the node-local API load balancer', () => {
  const tmp = useTempDir();
  const spec = (config = '', inventory = PKI_INVENTORY): ClusterSpec => clusterFrom(tmp(), config, inventory);
  const lbHosts = (s: ClusterSpec) => s.hosts.filter((h) => apiLbPhase.appliesTo(h)).map((h) => h.name);

  function resourcesOf(s: ClusterSpec, name: string) {
    const { hosts } = renderCluster(s, BUNDLED_UNITS, (h) => hostValues(h, undefined));
    const host = s.hosts.find((h) => h.name === name)!;
    const facts = factsFor('debian12');
    return apiLbPhase.resources({ spec: s, host, files: hosts.find((h) => h.host === host)!.files, facts, os: detectOs(host.name, facts) });
  }

  it('runs, with two or more masters and MASTER_IP empty, on the nodes that run no API server', () => {
    const s = spec();
    expect(s.values.API_LB).toBe('true');
    // m2 is a master and a worker: its node agents use its own API server.
    expect(lbHosts(s)).toEqual(['w1']);
  });

  it('is not there with one master or with MASTER_IP set (an external load balancer)', () => {
    expect(lbHosts(spec('MASTER_IP=10.0.0.100\n'))).toEqual([]);
    const single = spec('', PKI_INVENTORY.replace('roles: [etcd, master, worker]', 'roles: [etcd, worker]'));
    expect(single.values.API_LB).toBe('false');
    expect(lbHosts(single)).toEqual([]);
  });

  it('installs haproxy, a configuration with every master a checked backend, and a service that reloads on its changes', () => {
    const resources = resourcesOf(spec('KUBE_APISERVER_PORT=7443\n'), 'w1');
    expect(resources.find((r) => r.kind === 'package')).toMatchObject({ names: ['haproxy'] });
    const cfg = resources.find((r): r is FileResource => r.kind === 'file' && r.path === '/etc/haproxy/haproxy.cfg')!;
    expect(cfg.restarts).toEqual(['haproxy']);
    const text = cfg.content.toString();
    expect(text).toContain('bind 127.0.0.1:7443\n');
    expect(text.match(/^ *server .*$/gm)!.map((l) => l.trim())).toEqual(['server m1 10.0.0.11:7443', 'server m2 10.0.0.12:7443']);
    expect(text).toContain('option httpchk GET /readyz');
    expect(resources.find((r): r is ServiceResource => r.kind === 'service')).toMatchObject({ name: 'haproxy', enabled: true, running: true, reloads: true });
  });

  it("points the LB nodes' kubeconfigs at their load balancer; masters keep their own API server, the admin MASTER_IP", () => {
    const s = spec();
    const servers = (name: string) => Object.fromEntries(hostPkiFiles(s, s.hosts.find((h) => h.name === name)!).flatMap((f) => (f.content.kind === 'kubeconfig' ? [[f.path, f.content.server]] : [])));
    expect(servers('w1')).toEqual({ [PKI_PATHS.kubeletConf]: 'https://127.0.0.1:6443', [PKI_PATHS.kubeProxyConf]: 'https://127.0.0.1:6443' });
    expect(servers('m2')[PKI_PATHS.kubeletConf]).toBe('https://127.0.0.1:6443');
    expect(servers('m1')[PKI_PATHS.adminConf]).toBe('https://10.0.0.11:6443');
    const external = spec('MASTER_IP=10.0.0.100\n');
    expect(hostPkiFiles(external, external.hosts.find((h) => h.name === 'w1')!).find((f) => f.path === PKI_PATHS.kubeletConf)!.content).toMatchObject({ server: 'https://10.0.0.100:6443' });
  });

  it('refuses API_LB in config.properties: it is derived', () => {
    const refused = (() => {
      try {
        spec('API_LB=false\n');
        return [];
      } catch (err) {
        return err instanceof InvalidInputError ? err.problems.map((p) => p.format().replace(tmp(), '<tmp>')) : [String(err)];
      }
    })();
    expect(refused).toEqual([
      '<tmp>/config.properties:1 API_LB: is derived from the inventory and cannot be set here\n  fix: remove the line; API_LB is true with two or more masters and MASTER_IP empty; set MASTER_IP to an external load balancer instead of the node-local ones',
    ]);
  });
});
