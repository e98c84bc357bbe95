import { API_LB_BACKEND, API_LB_SHOW_STAT, API_LB_STATS_PORT } from '../components/catalog.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { HealthCheck, HealthRow } from './checks.js';

/** The row of the load balancer on a node: it answers and reaches an API server, or the node has none. */
export const API_LB_CHECK = 'API load balancer';
/** The row of a master as the load balancers see it: one per master, whichever nodes' balancers saw it. */
export const API_LB_BACKEND_CHECK = 'API server behind the load balancers';

/** One server line of haproxy's `show stat` CSV. */
export interface BackendState {
  name: string;
  /** UP, DOWN, `UP 1/3` (going down), `DOWN 1/2` (going up), MAINT, no check. */
  status: string;
  /** The last check's verdict, e.g. L7OK, L4CON (connection failed), L7STS (wrong status), L4TOUT. */
  check: string;
}

/**
 * The servers of the API servers' backend, from `show stat`'s CSV: its header line names the
 * columns (`# pxname,svname,...`), so the columns are found by name, whatever the haproxy version.
 */
export function backendStates(csv: string): BackendState[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) return [];
  const columns = header.slice(2).split(',');
  const at = (fields: string[], name: string) => fields[columns.indexOf(name)] ?? '';
  return lines
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.split(','))
    .filter((f) => at(f, 'pxname') === API_LB_BACKEND && !['FRONTEND', 'BACKEND'].includes(at(f, 'svname')))
    .map((f) => ({ name: at(f, 'svname'), status: at(f, 'status'), check: at(f, 'check_status') }));
}

const up = (b: BackendState) => b.status === 'UP' || b.status.startsWith('UP ');

/** `UP`, or `DOWN (L4CON)`: the last check's verdict says why a server is not up. */
function state(b: BackendState): string {
  return `${b.status}${b.check && !up(b) ? ` (${b.check})` : ''}`;
}

/**
 * The load balancer on one node, read from haproxy itself (its stats socket): a row for the node
 * (it answers and sends to at least one API server; else the node has lost the API) and a row per
 * master of the inventory, which fails when this node's balancer finds that master DOWN or does
 * not have it as a backend: a master that is down is named, not the nodes that cannot reach it.
 */
export function apiLbCheck(spec: ClusterSpec, host: HostSpec): HealthCheck {
  const masters = spec.hosts.filter((h) => h.roles.includes('master')).map((h) => h.name);
  return {
    key: 'api-lb',
    script: `${API_LB_SHOW_STAT} 2>&1 || echo "haproxy does not answer on its stats socket 127.0.0.1:${API_LB_STATS_PORT} (systemd says $(systemctl is-active haproxy))"`,
    read: (out): HealthRow[] => {
      const backends = backendStates(out);
      if (backends.length === 0) {
        const why = out.trim().split('\n').at(-1) || 'no answer';
        return [{ check: API_LB_CHECK, host: host.name, ok: false, detail: why }];
      }
      const node: HealthRow = { check: API_LB_CHECK, host: host.name, ok: backends.some(up), detail: backends.map((b) => `${b.name} ${state(b)}`).join(', ') };
      const perMaster = masters.map((name): HealthRow => {
        const b = backends.find((x) => x.name === name);
        const detail = b ? `${state(b)} on ${host.name}` : `not a backend on ${host.name}: run bootstrap apply`;
        return { check: API_LB_BACKEND_CHECK, host: name, ok: b !== undefined && up(b), detail };
      });
      return [node, ...perMaster];
    },
  };
}
