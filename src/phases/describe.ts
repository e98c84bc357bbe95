import type { HostSpec } from '../config/cluster-spec.js';
import type { HostFacts } from '../engine/facts.js';
import type { HostDescription } from '../engine/runner.js';
import { HostError } from '../errors.js';
import { detectOs } from '../os/detect.js';
import type { OsAdapter } from '../os/adapter.js';
import { toolInstall } from '../os/host-tools.js';
import type { RenderedFile } from '../render/render-cluster.js';
import type { HostDetail } from './context.js';

/**
 * What kubestrap makes of a host once its facts are read: its OS (or why it cannot manage it), a
 * check that the cluster address is the host's own, and the files rendered for it. A throw refuses
 * that host alone.
 */
export function hostDescriber(filesFor: (host: HostSpec, facts: HostFacts) => readonly RenderedFile[]): (host: HostSpec, facts: HostFacts) => HostDescription<HostDetail> {
  return (host, facts) => {
    const os = detectOs(host.name, facts);
    checkNodeAddress(host, facts, os.adapter);
    return { system: os.label, packages: os.adapter, detail: { os, files: filesFor(host, facts) } };
  };
}

/** The address the cluster will use must be one the host has, or nothing will talk to it. */
function checkNodeAddress(host: HostSpec, facts: HostFacts, adapter: OsAdapter): void {
  if (facts.addresses.includes(host.nodeIp)) return;
  // The fact command lists addresses with `ip`: none at all is a host without it (iproute2), not one without a network.
  if (facts.addresses.length === 0) {
    const install = toolInstall(adapter, ['ip']);
    throw new HostError(
      host.name,
      `reports no IPv4 address at all, so kubestrap cannot check that ${host.nodeIp} is its own: it reads them with \`ip -o -4 addr show\`, which the host may lack`,
      {},
      `install ${install.packages.join(', ')} on the host (${install.command}), then run again`,
    );
  }
  throw new HostError(
    host.name,
    `the cluster address ${host.nodeIp} is not on this host (it has ${facts.addresses.filter((a) => !a.startsWith('127.')).join(', ') || 'no IPv4 address'})`,
    {},
    "set the host's internalAddress in the inventory to one of its own addresses",
  );
}
