import type { HostSpec } from '../config/cluster-spec.js';
import type { HostFacts } from '../engine/facts.js';
import type { HostDescription } from '../engine/runner.js';
import { HostError } from '../errors.js';
import { detectOs } from '../os/detect.js';
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
    checkNodeAddress(host, facts);
    return { system: os.label, packages: os.adapter, detail: { os, files: filesFor(host, facts) } };
  };
}

/** The address the cluster will use must be one the host has, or nothing will talk to it. */
function checkNodeAddress(host: HostSpec, facts: HostFacts): void {
  if (facts.addresses.includes(host.nodeIp)) return;
  throw new HostError(
    host.name,
    `the cluster address ${host.nodeIp} is not on this host (it has ${facts.addresses.filter((a) => !a.startsWith('127.')).join(', ') || 'no IPv4 address'})`,
    {},
    "set the host's internalAddress in the inventory to one of its own addresses",
  );
}
