import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterSpec } from '../config/cluster-spec.js';
import { HostError, StateError, type KubestrapError } from '../errors.js';
import type { ClusterContext } from './context.js';
import { CAS } from '../pki/catalog.js';
import { localPkiStore } from '../pki/store.js';
import { hostsWithEtcdData } from './etcd.js';
import { hostsHoldingCa } from './pki.js';

const USE_APPLY = 'bootstrap apply changes an existing cluster (and finishes one an earlier init left half done)';

/**
 * `init` makes a cluster that does not exist yet. A CA in the local state folder, or hosts that
 * hold etcd data or trust a CA, mean one does: init refuses and points to `apply`, which changes
 * only what differs.
 */
export function localClusterProblems(spec: ClusterSpec): KubestrapError[] {
  // A whole-cluster reset kept the PKI for the next init: its CAs are meant to be used again.
  if (existsSync(resetMarkerPath(spec))) return [];
  const store = localPkiStore(spec);
  const ca = CAS.find((c) => store.read(c.name).certPem !== undefined);
  return ca ? [new StateError(store.pathOf(ca.name, 'certPem'), `cluster "${spec.name}" already has a CA (${ca.name}) here: it was initialised before`, USE_APPLY)] : [];
}

/** Left in the state folder by a whole-cluster reset that kept the PKI; the next successful init removes it. */
export function resetMarkerPath(spec: Pick<ClusterSpec, 'stateDir'>): string {
  return join(spec.stateDir, 'reset.json');
}

export function existingClusterProblems(ctx: ClusterContext): KubestrapError[] {
  const etcd = hostsWithEtcdData(ctx).map((name) => new HostError(name, 'already holds etcd data: a cluster exists on it', {}, USE_APPLY));
  const ca = hostsHoldingCa(ctx).map(
    (name) => new HostError(name, 'already trusts a cluster CA (/etc/kubernetes/pki): a cluster exists on it', {}, `${USE_APPLY}; a host of another cluster must be reset first`),
  );
  return [...etcd, ...ca];
}
