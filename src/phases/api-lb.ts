import { posix } from 'node:path';
import { apiLbOn, component } from '../components/catalog.js';
import { HOST_PATHS } from '../components/paths.js';
import type { Resource } from '../engine/resource.js';
import { LISTENERS_FACT, portProblems } from '../preflight/ports.js';
import { fileResource } from './file-resource.js';
import { filesOf, type Phase, type PhaseContext } from './phase.js';
import { clusterRecord } from './record.js';
import { portsNeeded, runningService } from './services.js';

/**
 * The node-local API load balancer (catalog: `api-lb`), in LB mode on every node that runs no API
 * server: haproxy from the OS packages, its rendered configuration (every master of the inventory
 * a backend, checked by its /readyz), running. It comes after the control plane, so a new master's
 * API server is started and ready before any load balancer sends to it, and before the node
 * agents, which find their load balancer when they start. A change of the master list reloads
 * haproxy; nothing else restarts (the kubeconfigs point at 127.0.0.1 whatever the masters are).
 * A host that leaves LB mode (one master left, MASTER_IP set) loses the configuration and the
 * running service through its host record; the package stays, as packages do.
 */
export const apiLbPhase: Phase = {
  name: 'api-lb',
  title: 'API load balancer (haproxy)',
  appliesTo: apiLbOn,
  facts: [LISTENERS_FACT],
  // The configuration goes in before the package: Debian's starts haproxy on install, which then
  // reads ours (apt keeps a config file it finds, --force-confold; rpm writes its own as .rpmnew).
  resources: ({ spec, host, files }: PhaseContext): Resource[] => [
    { kind: 'directory', path: posix.dirname(HOST_PATHS.haproxyConfig), mode: 0o755, owner: 'root', group: 'root' },
    ...filesOf('api-lb', files).map(fileResource),
    { kind: 'package', names: [...(component('api-lb').packages ?? [])], why: ['the node-local load balancer in front of the API servers (LB mode: several masters, MASTER_IP empty)'] },
    runningService(spec, host, 'api-lb'),
  ],
  record: ({ spec }) => clusterRecord(spec),
  // Its listener is the API server's port on the loopback: free on a host that runs no API server, unless something else took it.
  preflight: (ctx) => portProblems({ ...ctx, hosts: ctx.hosts.filter((h) => apiLbOn(h.host)) }, () => portsNeeded(ctx.spec, 'api-lb')),
  // The masters it balances come from the inventory; its preflight looks at each host alone.
  limitReads: () => [],
};
