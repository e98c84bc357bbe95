import { describe, expect, it } from 'vitest';
import type { HostSpec } from '../../src/config/cluster-spec.js';
import { PHASES } from '../../src/phases/index.js';
import { pkiPhase } from '../../src/phases/pki.js';
import type { PreparedPki } from '../../src/pki/reconcile.js';

const host = (name: string, ...roles: string[]) => ({ name, roles }) as unknown as HostSpec;
const hosts = [host('m1', 'etcd', 'master'), host('m2', 'master'), host('e1', 'etcd'), host('w1', 'worker'), host('w2', 'worker')];
const pki = (issued: string[]) => ({ issued: issued.map((name) => ({ name })) }) as unknown as PreparedPki;

/** What each bring-up phase reads besides w2 when a run is limited to w2, by phase. */
function readsFor(limited: HostSpec[]): Record<string, string[]> {
  const phases = PHASES.map((e) => (e.needsPki ? pkiPhase(pki([]), '/state/pki') : e.build({})));
  return Object.fromEntries(phases.map((p) => [p.name, p.limitReads ? p.limitReads(limited, hosts).map((h) => h.name) : ['every host']]));
}

describe("the bring-up phases' limitReads", () => {
  it('name the hosts of their cluster actions only: adding a worker reads the masters and etcd members, no other worker', () => {
    expect(readsFor([hosts[4]!])).toEqual({
      os: [],
      runtime: [],
      artifacts: [],
      pki: [],
      etcd: ['m1', 'e1'],
      'control-plane': ['m1', 'm2'],
      'api-lb': [],
      workers: ['m1', 'm2'],
      network: ['m1', 'm2', 'e1'],
      addons: ['m1', 'm2'],
      verify: ['m1', 'm2'],
    });
  });

  it('pki reads every host when the run issues a trust anchor, so no host holding another one goes unseen', () => {
    expect(pkiPhase(pki(['admin']), '/state/pki').limitReads!([hosts[4]!], hosts)).toEqual([]);
    expect(pkiPhase(pki(['ca']), '/state/pki').limitReads!([hosts[4]!], hosts)).toHaveLength(hosts.length);
  });
});
