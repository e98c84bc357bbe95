import { backupSettings, readScheduledBackup, scheduledBackupHost, scheduledBackupProbe } from '../backup/scheduled.js';
import { COMPONENTS, runsOn } from '../components/catalog.js';
import { ETCD_ACCESS_MARKER_KEY } from '../components/clients.js';
import { etcdApiOn, kubeApiOn } from '../cluster-api/cluster-apis.js';
import { NodeListSchema, readyStatus, type Node } from '../cluster-api/kube-objects.js';
import type { ClientIdentity, OpenChannel } from '../cluster-api/tls-channel.js';
import { memberOf } from '../components/etcd-members.js';
import type { EtcdMember } from '../cluster-api/etcd-api.js';
import { FLANNEL_SUBNET_FILE } from '../components/paths.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { hostTool } from '../os/host-tools.js';
import { shq } from '../ssh/quote.js';
import { KubestrapError } from '../errors.js';

/**
 * What `bootstrap health` looks at. Each check is a shell snippet that only looks, run on a host
 * inside that host's one command, and a reading of its output into rows (one per check and host).
 * Host checks run on every host they concern; cluster checks (etcd's member list, node readiness,
 * flannel leases) run once, on the first host that can answer.
 */
export interface HealthRow {
  check: string;
  host: string;
  ok: boolean;
  detail: string;
}

export interface HealthCheck {
  /** Section key in the host's command; unique within it. */
  key: string;
  script: string;
  read(output: string): HealthRow[];
}

/** The client certificates the controller's own requests use (from the local PKI). */
export type HealthIdentities = (name: 'kubeAdmin' | 'etcdHealthcheck') => ClientIdentity;

/**
 * A check the controller makes itself, through a forwarded channel of the host's SSH connection to
 * an API the host serves (etcd, the API server): no process starts on the host. It never throws: a
 * failed request is a failed row, saying which request failed and how.
 */
export interface ApiCheck {
  key: string;
  query(channel: OpenChannel): Promise<HealthRow[]>;
}

/** The rows `query` makes, or `failed`'s rows with the request's error when it fails. */
async function rowsOr(query: () => Promise<HealthRow[]>, failed: (why: string) => HealthRow[]): Promise<HealthRow[]> {
  try {
    return await query();
  } catch (err) {
    return failed(err instanceof KubestrapError ? `${err.where()}: ${err.message}` : String(err));
  }
}

const ACTIVE = (unit: string) => `systemctl is-active -- ${shq(unit)}`;

function row(check: string, host: string, ok: boolean, detail: string): HealthRow {
  return { check, host, ok, detail: detail.trim() || (ok ? 'ok' : 'no answer') };
}

/** The last line of what a check printed: an error's gist, not its whole trace. */
function gist(output: string): string {
  return output.trim().split('\n').filter(Boolean).at(-1) ?? '';
}

/** `code<TAB>output` framing: the exit code on the first line, then the output. */
function withCode(script: string): string {
  return `out=$( { ${script}; } 2>&1 ); printf '%s\\n%s\\n' "$?" "$out"`;
}

function splitCode(output: string): { code: number; body: string } {
  const newline = output.indexOf('\n');
  return { code: Number((newline < 0 ? output : output.slice(0, newline)).trim()), body: newline < 0 ? '' : output.slice(newline + 1) };
}

/**
 * Stops a check whose program the host lacks with what is missing and what installs it, in place
 * of the shell's `curl: not found`, which would read as the component's state.
 */
function needs(command: string): string {
  const tool = hostTool(command);
  const why = `${command} is not installed on this host (kubestrap runs it for ${tool.usedFor}): run bootstrap apply --phase os, which installs it, or install the ${tool.package} package`;
  return `command -v ${command} >/dev/null 2>&1 || { printf '%s\\n' ${shq(why)}; exit 127; }`;
}

/** A health endpoint answers `ok`; otherwise its answer (e.g. `[-]etcd failed: ...`) or curl's error is the reason. */
function answersOk(curlArgs: string): string {
  return `${needs('curl')}; body=$(curl -sS --max-time 3 ${curlArgs}) || exit $?; [ "$body" = ok ] || { printf '%s\\n' "$body"; exit 1; }`;
}

function serviceCheck(host: HostSpec, unit: string, name = unit): HealthCheck {
  return {
    key: `service:${unit}`,
    script: ACTIVE(unit),
    read: (out) => [row(`${name} running`, host.name, out.trim() === 'active', out.trim() === 'active' ? 'active' : `systemd says ${out.trim() || 'nothing'}`)],
  };
}

/** A command that must exit 0; its last line explains a failure. */
function commandCheck(key: string, check: string, host: HostSpec, script: string, okDetail: (body: string) => string): HealthCheck {
  return {
    key,
    script: withCode(script),
    read: (out) => {
      const { code, body } = splitCode(out);
      return [row(check, host.name, code === 0, code === 0 ? okDetail(body) : gist(body) || `exit code ${code}`)];
    },
  };
}

/** The checks each host answers for itself, by its roles. */
export function hostChecks(spec: ClusterSpec, host: HostSpec): HealthCheck[] {
  const checks: HealthCheck[] = [];
  if (host.roles.includes('etcd')) {
    checks.push(serviceCheck(host, 'etcd'));
    if (scheduledBackupHost(spec)?.name === host.name) checks.push(scheduledBackupCheck(spec, host));
  }
  if (host.roles.includes('master')) {
    const { 'kube-controller-manager': controllerManager, 'kube-scheduler': scheduler } = COMPONENTS;
    // The API server's /readyz is the controller's own request (apiserverReadyCheck).
    checks.push(
      // Their serving certificates are their own, self-signed: -k.
      commandCheck('controller-manager', 'controller-manager /healthz', host, answersOk(`-k ${controllerManager.service.health()}`), () => 'ok'),
      commandCheck('scheduler', 'scheduler /healthz', host, answersOk(`-k ${scheduler.service.health()}`), () => 'ok'),
    );
  }
  if (runsOn(spec, host, 'flanneld')) checks.push(serviceCheck(host, 'flanneld'));
  if (host.roles.includes('worker')) {
    checks.push(serviceCheck(host, 'containerd', 'runtime (containerd)'), serviceCheck(host, 'kubelet'), serviceCheck(host, 'kube-proxy'));
    checks.push({
      key: 'subnet',
      script: `cat ${FLANNEL_SUBNET_FILE}`,
      read: (out) => {
        const subnet = /^FLANNEL_SUBNET=(\S+)$/m.exec(out)?.[1];
        return [row('flannel subnet on the node', host.name, subnet !== undefined, subnet ? `FLANNEL_SUBNET=${subnet}` : `no ${FLANNEL_SUBNET_FILE}`)];
      },
    });
  }
  return checks;
}

/** The scheduled etcd backup, on the member that takes it (ETCD_BACKUP_SCHEDULE set): its newest snapshot's age, or why there is none. */
export function scheduledBackupCheck(spec: ClusterSpec, host: HostSpec): HealthCheck {
  const settings = backupSettings(spec);
  return {
    key: 'etcd-scheduled-backup',
    script: scheduledBackupProbe(settings),
    read: (out) => {
      const { ok, detail } = readScheduledBackup(out, settings);
      return [row('etcd scheduled backup', host.name, ok, detail)];
    },
  };
}

/**
 * etcd's member list against the inventory, read on one member by the controller (one gRPC call
 * through its connection, as the health check's user: listing members needs no grant): every etcd
 * host of the inventory must be a started member, and every member an etcd host of the inventory (a
 * member left behind by a removal, or added by hand, fails naming it: etcd counts it towards the
 * quorum).
 */
export function etcdMembersCheck(spec: ClusterSpec, on: HostSpec, ids: HealthIdentities): ApiCheck {
  const check = 'etcd member list';
  return {
    key: 'etcd-members',
    query: (channel) =>
      rowsOr(
        async () => [memberListRow(spec, on, await etcdApiOn(on, channel, ids('etcdHealthcheck')).memberList())],
        (why) => [row(check, on.name, false, why)],
      ),
  };
}

/** The member list's row: who is missing or unknown, else the started members. */
export function memberListRow(spec: ClusterSpec, on: HostSpec, members: readonly EtcdMember[]): HealthRow {
  const expected = spec.hosts.filter((h) => h.roles.includes('etcd'));
  const missing = expected.filter((h) => !memberOf(members, h)?.started).map((h) => h.name);
  const unknown = members.filter((m) => !expected.some((h) => memberOf([m], h))).map((m) => `${m.name || '(not started)'} ${m.peerUrls.join(',')}`);
  const problems = [
    ...(missing.length ? [`not started members: ${missing.join(', ')}`] : []),
    ...(unknown.length ? [`members the inventory does not have as etcd hosts: ${unknown.join('; ')} (etcdctl member remove, or mark the host remove: true and apply)`] : []),
  ];
  const started = members.filter((m) => m.started).map((m) => m.name);
  return row('etcd member list', on.name, problems.length === 0, problems.length ? problems.join('; ') : `${started.length} members started: ${started.join(', ')}`);
}

/**
 * A master's API server is ready (`/readyz` answers `ok`), asked by the controller through the
 * master's connection to its own API server; otherwise the failed checks it lists (`[-]etcd failed`).
 */
export function apiserverReadyCheck(spec: ClusterSpec, host: HostSpec, ids: HealthIdentities): ApiCheck {
  const check = 'API server /readyz';
  return {
    key: 'apiserver',
    query: (channel) =>
      rowsOr(
        async () => {
          const { status, body } = await kubeApiOn(spec, host, channel, ids('kubeAdmin')).text('/readyz');
          const ok = status === 200 && body.trim() === 'ok';
          const failed = body.split('\n').filter((l) => l.startsWith('[-]'));
          return [row(check, host.name, ok, ok ? 'ok' : failed.join('; ') || `answered ${status}: ${gist(body)}`)];
        },
        (why) => [row(check, host.name, false, why)],
      ),
  };
}

/**
 * A member's own health, asked by the controller through its connection as etcdctl's `endpoint
 * health` asks: a read answers, a refusal for lack of permission included. At the member's address,
 * not its loopback: what its peers and the API servers reach. (Its status and alarms need etcd's
 * root: the health check's user may not read them.)
 */
export function etcdHealthCheck(host: HostSpec, ids: HealthIdentities): ApiCheck {
  const member = `https://${host.nodeIp}:${COMPONENTS.etcd.service.ports.client}`;
  const fail = (why: string) => [row('etcd endpoint health', host.name, false, why)];
  return {
    key: 'etcd-health',
    query: (channel) =>
      rowsOr(async () => {
        await etcdApiOn(host, channel, ids('etcdHealthcheck'), member).get('health');
        return [row('etcd endpoint health', host.name, true, `${member} is healthy`)];
      }, fail),
  };
}

/**
 * Whether etcd's authentication is on, read on one member: the health check's user is refused a key
 * outside its grants. Off, any client certificate of the etcd CA (every worker's, in etcd mode)
 * reads and writes every key.
 */
export function etcdAuthCheck(_spec: ClusterSpec, on: HostSpec, ids: HealthIdentities): ApiCheck {
  const check = 'etcd access control';
  return {
    key: 'etcd-auth',
    query: (channel) =>
      rowsOr(
        async () => {
          const read = await etcdApiOn(on, channel, ids('etcdHealthcheck')).get(ETCD_ACCESS_MARKER_KEY);
          if (read.kind === 'denied') return [row(check, on.name, true, 'on: each client reaches only its own keys')];
          return [row(check, on.name, false, 'authentication is off: any client certificate of the etcd CA reads and writes every key; run bootstrap apply')];
        },
        (why) => [row(check, on.name, false, why)],
      ),
  };
}

/**
 * The nodes as the API server sees them, read through one master with one list: every node of the
 * inventory Ready and, in flannel's kube mode, holding the podCIDR flanneld takes as its subnet.
 */
export function nodesCheck(spec: ClusterSpec, on: HostSpec, ids: HealthIdentities): ApiCheck {
  const nodes = spec.hosts.filter((h) => h.roles.includes('worker')).map((h) => h.name);
  const kubeMode = spec.values.FLANNEL_MODE === 'kube';
  return {
    key: 'nodes',
    query: (channel) =>
      rowsOr(
        async () => nodeRows(nodes, kubeMode, (await kubeApiOn(spec, on, channel, ids('kubeAdmin')).get('/api/v1/nodes', NodeListSchema))?.items ?? []),
        (why) => nodes.flatMap((n) => [row('node Ready', n, false, why), ...(kubeMode ? [row('node podCIDR (flannel)', n, false, why)] : [])]),
      ),
  };
}

/** Each wanted node's rows from the API server's list: its Ready condition and (kube mode) its podCIDR. */
export function nodeRows(nodes: readonly string[], kubeMode: boolean, listed: readonly Node[]): HealthRow[] {
  const byName = new Map(listed.map((n) => [n.metadata.name, n]));
  return nodes.flatMap((name) => {
    const node = byName.get(name);
    const ready = row('node Ready', name, node !== undefined && readyStatus(node) === 'True', node ? `Ready=${readyStatus(node)}` : 'not registered');
    if (!kubeMode) return [ready];
    const podCIDR = node?.spec.podCIDR || undefined;
    return [ready, row('node podCIDR (flannel)', name, podCIDR !== undefined, podCIDR ?? 'no podCIDR yet')];
  });
}

/** flannel's leases in etcd (etcd mode), read on one etcd member: one per node, for the node's address. */
export function leasesCheck(spec: ClusterSpec, on: HostSpec, ids: HealthIdentities): ApiCheck {
  const prefix = `${spec.values.FLANNEL_ETCD_PREFIX}/subnets/`;
  const nodes = spec.hosts.filter((h) => h.roles.includes('master') || h.roles.includes('worker'));
  return {
    key: 'leases',
    query: (channel) =>
      rowsOr(
        async () => {
          const byIp = leasesByIp(await etcdApiOn(on, channel, ids('etcdHealthcheck')).getPrefix(prefix), prefix);
          return nodes.map((n) => row('flannel lease in etcd', n.name, byIp.has(n.nodeIp), byIp.get(n.nodeIp) ?? `no lease for ${n.nodeIp} under ${prefix}`));
        },
        (why) => nodes.map((n) => row('flannel lease in etcd', n.name, false, why)),
      ),
  };
}

/** flannel's leases (key `<prefix><subnet>-<bits>`, value JSON with its PublicIP): public IP → subnet of each. */
export function leasesByIp(leases: ReadonlyArray<{ key: string; value: string }>, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const { key, value } of leases) {
    if (!key.startsWith(prefix)) continue;
    try {
      const lease = JSON.parse(value) as { PublicIP?: string };
      if (lease.PublicIP) out.set(lease.PublicIP, key.slice(prefix.length).replace('-', '/'));
    } catch {
      // not a lease value
    }
  }
  return out;
}
