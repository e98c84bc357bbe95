import { backupSettings, readScheduledBackup, scheduledBackupHost, scheduledBackupProbe } from '../backup/scheduled.js';
import { COMPONENTS, LOCAL_ETCD, runsOn } from '../components/catalog.js';
import { ETCD_ACCESS_MARKER_KEY, etcdctl, kubectl } from '../components/clients.js';
import { memberOf, parseMemberList } from '../components/etcd-members.js';
import { FLANNEL_SUBNET_FILE, PKI_PATHS } from '../components/paths.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { hostTool } from '../os/host-tools.js';
import { shq } from '../ssh/quote.js';
import { versionsCheck } from './versions.js';

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
    // The member's address, not 127.0.0.1: what its peers and the API servers reach.
    const member = `https://${host.nodeIp}:${COMPONENTS.etcd.service.ports.client}`;
    checks.push(serviceCheck(host, 'etcd'));
    checks.push(commandCheck('etcd-health', 'etcd endpoint health', host, `${etcdctl(host, member)} endpoint health`, () => `${member} is healthy`));
    if (scheduledBackupHost(spec)?.name === host.name) checks.push(scheduledBackupCheck(spec, host));
  }
  if (host.roles.includes('master')) {
    const { 'kube-apiserver': apiserver, 'kube-controller-manager': controllerManager, 'kube-scheduler': scheduler } = COMPONENTS;
    checks.push(
      commandCheck('apiserver', 'API server /readyz', host, answersOk(`--cacert ${PKI_PATHS.caCert} ${shq(apiserver.service.health(spec))}`), () => 'ok'),
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
  checks.push(versionsCheck(host));
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
 * etcd's member list against the inventory, read on one member: every etcd host of the inventory
 * must be a started member, and every member an etcd host of the inventory (a member left behind by
 * a removal, or added by hand, fails naming it: etcd counts it towards the quorum).
 */
export function etcdMembersCheck(spec: ClusterSpec, on: HostSpec): HealthCheck {
  const expected = spec.hosts.filter((h) => h.roles.includes('etcd'));
  return {
    key: 'etcd-members',
    script: withCode(`${etcdctl(on, LOCAL_ETCD)} member list`),
    read: (out) => {
      const { code, body } = splitCode(out);
      if (code !== 0) return [row('etcd member list', on.name, false, gist(body) || `exit code ${code}`)];
      const members = parseMemberList(body);
      const missing = expected.filter((h) => !memberOf(members, h)?.started).map((h) => h.name);
      const unknown = members.filter((m) => !expected.some((h) => memberOf([m], h))).map((m) => `${m.name || '(not started)'} ${m.peerUrls.join(',')}`);
      const problems = [
        ...(missing.length ? [`not started members: ${missing.join(', ')}`] : []),
        ...(unknown.length ? [`members the inventory does not have as etcd hosts: ${unknown.join('; ')} (etcdctl member remove, or mark the host remove: true and apply)`] : []),
      ];
      const started = members.filter((m) => m.started).map((m) => m.name);
      return [row('etcd member list', on.name, problems.length === 0, problems.length ? problems.join('; ') : `${started.length} members started: ${started.join(', ')}`)];
    },
  };
}

/**
 * Whether etcd's authentication is on, read on one member: the health check's user is refused a key
 * outside its grants. Off, any client certificate of the etcd CA (every worker's, in etcd mode)
 * reads and writes every key.
 */
export function etcdAuthCheck(_spec: ClusterSpec, on: HostSpec): HealthCheck {
  return {
    key: 'etcd-auth',
    script: withCode(`${etcdctl(on, LOCAL_ETCD)} get ${shq(ETCD_ACCESS_MARKER_KEY)}`),
    read: (out) => {
      const { code, body } = splitCode(out);
      const check = 'etcd access control';
      if (code === 0) return [row(check, on.name, false, 'authentication is off: any client certificate of the etcd CA reads and writes every key; run bootstrap apply')];
      if (/permission denied/.test(body)) return [row(check, on.name, true, 'on: each client reaches only its own keys')];
      return [row(check, on.name, false, `etcdctl on ${on.name}: ${gist(body) || `exit code ${code}`}`)];
    },
  };
}

/**
 * The nodes as the API server sees them, read on one master with one list: every node of the
 * inventory Ready and, in flannel's kube mode, holding the podCIDR flanneld takes as its subnet.
 */
export function nodesCheck(spec: ClusterSpec, on: HostSpec): HealthCheck {
  const nodes = spec.hosts.filter((h) => h.roles.includes('worker')).map((h) => h.name);
  const kubeMode = spec.values.FLANNEL_MODE === 'kube';
  return {
    key: 'nodes',
    script: withCode(`${kubectl(on)} get nodes -o json`),
    read: (out) => {
      const { code, body } = splitCode(out);
      if (code !== 0) {
        const why = `kubectl on ${on.name}: ${gist(body) || `exit code ${code}`}`;
        return nodes.flatMap((n) => [row('node Ready', n, false, why), ...(kubeMode ? [row('node podCIDR (flannel)', n, false, why)] : [])]);
      }
      const listed = nodeStates(body);
      return nodes.flatMap((n) => {
        const state = listed.get(n);
        const ready = row('node Ready', n, state?.ready === 'True', state ? `Ready=${state.ready}` : 'not registered');
        if (!kubeMode) return [ready];
        return [ready, row('node podCIDR (flannel)', n, state?.podCIDR !== undefined, state?.podCIDR ?? 'no podCIDR yet')];
      });
    },
  };
}

/** `kubectl get nodes -o json`: each node's Ready status (Unknown without the condition) and podCIDR. */
export function nodeStates(json: string): Map<string, { ready: string; podCIDR: string | undefined }> {
  const out = new Map<string, { ready: string; podCIDR: string | undefined }>();
  try {
    const list = JSON.parse(json) as {
      items?: Array<{ metadata?: { name?: string }; spec?: { podCIDR?: string }; status?: { conditions?: Array<{ type?: string; status?: string }> } }>;
    };
    for (const item of list.items ?? []) {
      const name = item.metadata?.name;
      if (!name) continue;
      out.set(name, { ready: item.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown', podCIDR: item.spec?.podCIDR || undefined });
    }
  } catch {
    // Not JSON: every node reads as not registered.
  }
  return out;
}

/** flannel's leases in etcd (etcd mode), read on one etcd member: one per node, for the node's address. */
export function leasesCheck(spec: ClusterSpec, on: HostSpec): HealthCheck {
  const prefix = `${spec.values.FLANNEL_ETCD_PREFIX}/subnets/`;
  const nodes = spec.hosts.filter((h) => h.roles.includes('master') || h.roles.includes('worker'));
  return {
    key: 'leases',
    script: withCode(`${etcdctl(on, LOCAL_ETCD)} get --prefix ${shq(prefix)}`),
    read: (out) => {
      const { code, body } = splitCode(out);
      if (code !== 0) return nodes.map((n) => row('flannel lease in etcd', n.name, false, `etcdctl on ${on.name}: ${gist(body) || `exit code ${code}`}`));
      const byIp = leasesByIp(body, prefix);
      return nodes.map((n) => row('flannel lease in etcd', n.name, byIp.has(n.nodeIp), byIp.get(n.nodeIp) ?? `no lease for ${n.nodeIp} under ${prefix}`));
    },
  };
}

/** `etcdctl get --prefix` prints key, value, key, value...: public IP → subnet of each lease. */
export function leasesByIp(text: string, prefix: string): Map<string, string> {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i]!.startsWith(prefix)) continue;
    try {
      const value = JSON.parse(lines[i + 1]!) as { PublicIP?: string };
      if (value.PublicIP) out.set(value.PublicIP, lines[i]!.slice(prefix.length).replace('-', '/'));
    } catch {
      // not a lease value
    }
  }
  return out;
}
