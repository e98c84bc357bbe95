import { HOST_PATHS } from '../components/paths.js';
import { readFact } from '../engine/facts.js';
import { HostError } from '../errors.js';
import { HOST_RECORD_DIR } from '../engine/host-record.js';
import { HOSTS_BLOCK_BEGIN, HOSTS_BLOCK_END } from '../engine/kinds/hosts-entries.js';
import { removalOf } from '../engine/installed.js';
import type { AbsentResource, CommandResource, Resource } from '../engine/resource.js';
import { shq } from '../ssh/quote.js';
import type { KubestrapPhase, PhaseContext } from './context.js';
import { type OsOriginal, restoreOsScript } from './os-original.js';
import type { PhaseName } from './phase-names.js';
import { MEMBERS_FACT, membershipFacts, NODES_FACT } from './membership/members-fact.js';

/** A phase of `bootstrap reset`: the engine's phase on kubestrap's hosts, named after what it removes. */
export type ResetPhase = KubestrapPhase;

export interface ResetOptions {
  /** Remove etcd's data folder too: the cluster's state, gone for good unless a backup exists. */
  deleteEtcdData: boolean;
  /** Remove kubestrap's sysctl and module files as well (the running kernel keeps its values until a reboot). */
  restoreOs: boolean;
}

/** What the OS phase changed and a reset leaves as it is unless asked: the kernel settings kubestrap persisted. */
const OS_SETTINGS = ['file:/etc/sysctl.d/', 'file:/etc/modules-load.d/'];

/** Network interfaces the pod network makes: flannel's, the CNI bridge, kube-proxy's ipvs dummy. */
const INTERFACES = ['cni0', 'flannel.1', 'flannel-v6.1', 'flannel-wg', 'flannel-wg-v6', 'kube-ipvs0'];

/** iptables chains the cluster's components own, by prefix; nothing else of the tables is touched. */
const CHAIN_PREFIXES = '(KUBE|FLANNEL|CNI)-';

/** nftables tables kube-proxy (nftables mode) and flannel make. */
const NFT_TABLES = ['ip kube-proxy', 'ip6 kube-proxy', 'inet flannel', 'ip flannel', 'ip6 flannel'];

/**
 * `bootstrap reset` as desired state: every phase's recorded install becomes absent (services
 * stopped and disabled first, then files, then folders when empty), newest phase first; then what
 * the cluster made at run time (pods' containers and mounts, interfaces, our iptables chains and
 * nftables tables, data folders); the host record goes last, so that a reset cut short is finished
 * by the next. Nothing here flushes a whole table, changes a policy or touches sshd or a firewall:
 * the SSH session the run uses stays up.
 */
export function resetPhases(opts: ResetOptions): ResetPhase[] {
  const teardown = (name: PhaseName) => recordedTeardown(name, opts);
  const early = (['verify', 'addons', 'network', 'workers', 'control-plane', 'etcd'] as const).map(teardown);
  const late = (['pki', 'artifacts', 'runtime', 'os'] as const).map(teardown);
  // Pods' containers go while their runtime still answers; interfaces and chains once their makers stopped.
  return [...early, runtimeLeftovers(opts), ...late, recordGone()];
}

function recordedTeardown(name: PhaseName, opts: ResetOptions): ResetPhase {
  const keep = (id: string) => name === 'os' && !opts.restoreOs && OS_SETTINGS.some((p) => id.startsWith(p));
  return {
    name: `reset-${name}`,
    title: `remove what the ${name} phase installed`,
    appliesTo: () => true,
    resources: ({ facts }: PhaseContext): Resource[] => [...removalOf(facts.record.get(name), keep), ...(name === 'os' && opts.restoreOs ? [restoreOs(facts)] : [])],
  };
}

/** --restore-os: swap, SELinux and the firewalls as the host had them before kubestrap, from the next boot on. */
function restoreOs(facts: PhaseContext['facts']): CommandResource {
  const original = facts.record.get('os')?.fields.original as OsOriginal | undefined;
  const { check, run } = restoreOsScript(original);
  return command('reset-restore-os', "put back swap, SELinux's mode and the firewalls as they were before kubestrap, for the next boot", check, run);
}

/**
 * For a reset of some hosts (--limit): a host the running cluster still counts is refused, before
 * anything changes: its Node is registered (read on the masters) or it is an etcd member (read on
 * the members). The facts ask the cluster as it is; a host that left it has neither.
 */
export function membershipPhase(limit: readonly string[]): ResetPhase {
  return {
    name: 'reset-membership',
    title: 'check that the hosts to reset have left the cluster',
    appliesTo: () => false,
    facts: membershipFacts,
    resources: () => [],
    preflight: (ctx) => {
      const nodes = new Set(ctx.hosts.flatMap((h) => readFact(h.facts, NODES_FACT) ?? []));
      const members = new Set(ctx.hosts.flatMap((h) => (readFact(h.facts, MEMBERS_FACT) ?? []).map((m) => m.name)));
      return limit.flatMap((name) => {
        const still = [...(nodes.has(name) ? ['its Node is registered'] : []), ...(members.has(name) ? ['it is an etcd member'] : [])];
        if (!still.length) return [];
        return [
          new HostError(
            name,
            `is still a member of the running cluster (${still.join(', ')}): resetting it alone would leave the cluster counting on a host that is gone`,
            {},
            `take it out of the cluster with kubestrap: mark it remove: true in the inventory and run bootstrap apply (it drains and deletes its Node, removes its etcd member and takes kubestrap off it; --forget ${name} if it does not answer), then drop it from the inventory; or reset the whole cluster`,
          ),
        ];
      });
    },
  };
}

/** What the running cluster made on a host, which no record lists. */
function runtimeLeftovers(opts: ResetOptions): ResetPhase {
  const dirs = [HOST_PATHS.kubeletDir, HOST_PATHS.kubeProxyDir, HOST_PATHS.flannelRunDir, '/var/lib/cni', HOST_PATHS.auditLogDir, ...(opts.deleteEtcdData ? [HOST_PATHS.etcdDataDir] : [])];
  return {
    name: 'reset-runtime-state',
    title: 'remove what the cluster made at run time (containers, mounts, interfaces, chains, data)',
    appliesTo: () => true,
    resources: (): Resource[] => [
      podContainers(),
      podMounts(),
      interfaces(),
      iptablesChains('iptables'),
      iptablesChains('ip6tables'),
      nftTables(),
      hostsBlock(),
      ...dirs.map((path): AbsentResource => ({ kind: 'absent', of: 'directory', name: path, recursive: true })),
    ],
  };
}

/** kubestrap's own state on the host, the record included: last, once nothing needs it. */
function recordGone(): ResetPhase {
  return {
    name: 'reset-record',
    title: "remove kubestrap's record of the host",
    appliesTo: () => true,
    resources: () => [{ kind: 'absent', of: 'directory', name: HOST_RECORD_DIR, recursive: true }],
  };
}

function command(name: string, description: string, check: string, run: string): CommandResource {
  return { kind: 'command', name, description, check, run };
}

/** Containers the kubelet ran (containerd's k8s.io namespace); images stay. */
function podContainers(): CommandResource {
  const ctr = 'ctr -n k8s.io';
  return command(
    'reset-pod-containers',
    "stop and remove the pods' containers (containerd namespace k8s.io)",
    `! command -v ctr >/dev/null 2>&1 || [ -z "$(${ctr} containers ls -q 2>/dev/null)" ]`,
    [
      `for t in $(${ctr} tasks ls -q 2>/dev/null); do ${ctr} tasks kill -s SIGKILL "$t" 2>/dev/null; ${ctr} tasks rm -f "$t" 2>/dev/null; done`,
      `for c in $(${ctr} containers ls -q); do ${ctr} containers rm "$c"; done`,
    ].join('\n'),
  );
}

/** Mounts under the kubelet's folder (pods' volumes), deepest first: the folder can go only once they are gone. */
function podMounts(): CommandResource {
  const under = `${HOST_PATHS.kubeletDir}/`;
  const mounted = `while read -r ks_d ks_m ks_r; do case "$ks_m" in ${shq(under)}*) printf '%s\\n' "$ks_m" ;; esac; done < /proc/mounts`;
  return command('reset-pod-mounts', `unmount what is mounted under ${under}`, `[ -z "$(${mounted})" ]`, `${mounted} | sort -r | while read -r m; do umount "$m" || umount -l "$m"; done`);
}

function interfaces(): CommandResource {
  const each = `for i in ${INTERFACES.join(' ')}; do [ -e "/sys/class/net/$i" ] || continue;`;
  return command('reset-interfaces', `delete the pod network's interfaces (${INTERFACES.join(', ')})`, `${each} exit 1; done; :`, `${each} ip link delete "$i"; done`);
}

/**
 * Our chains only: the rules of other chains that jump to them are deleted one by one, then the
 * chains are emptied and deleted. No table is flushed and no policy changes.
 */
function iptablesChains(tool: 'iptables' | 'ip6tables'): CommandResource {
  const present = `command -v ${tool}-save >/dev/null 2>&1 && ${tool}-save 2>/dev/null | grep -qE '^:${CHAIN_PREFIXES}'`;
  const run = [
    'for t in filter nat mangle raw; do',
    `  ks_rules=$(${tool}-save -t "$t" 2>/dev/null) || continue`,
    `  printf '%s\\n' "$ks_rules" | grep -E -- '-j ${CHAIN_PREFIXES}' | grep -vE '^-A ${CHAIN_PREFIXES}' | grep '^-A ' | sed 's/^-A /-D /' | while IFS= read -r ks_r; do eval "${tool} -t \\"\\$t\\" $ks_r"; done`,
    `  ks_chains=$(printf '%s\\n' "$ks_rules" | sed -nE 's/^:(${CHAIN_PREFIXES}[^ ]*) .*/\\1/p')`,
    `  for c in $ks_chains; do ${tool} -t "$t" -F "$c"; done`,
    `  for c in $ks_chains; do ${tool} -t "$t" -X "$c"; done`,
    'done',
  ].join('\n');
  return command(`reset-${tool}-chains`, `delete the ${tool} chains of kube-proxy, flannel and CNI (KUBE-*, FLANNEL-*, CNI-*) and the rules that jump to them`, `! { ${present}; }`, run);
}

function nftTables(): CommandResource {
  const listed = `nft list tables 2>/dev/null | grep -xE 'table (${NFT_TABLES.join('|')})'`;
  return command(
    'reset-nft-tables',
    `delete the nftables tables of kube-proxy and flannel (${NFT_TABLES.join(', ')})`,
    `! command -v nft >/dev/null 2>&1 || ! ${listed} >/dev/null`,
    `${listed} | while read -r table family name; do nft delete table "$family" "$name"; done`,
  );
}

/** The cluster's block in /etc/hosts (the OS phase wrote it); the rest of the file is kept. */
function hostsBlock(): CommandResource {
  const begin = HOSTS_BLOCK_BEGIN.replace(/[.*[\]^$\\/]/g, '\\$&');
  const end = HOSTS_BLOCK_END.replace(/[.*[\]^$\\/]/g, '\\$&');
  return command(
    'reset-hosts-block',
    "remove the cluster's block from /etc/hosts",
    `! grep -qxF ${shq(HOSTS_BLOCK_BEGIN)} /etc/hosts`,
    `ks_tmp=$(mktemp /etc/.hosts.XXXXXX) && sed ${shq(`/^${begin}$/,/^${end}$/d`)} /etc/hosts > "$ks_tmp" && chmod 644 "$ks_tmp" && mv -f "$ks_tmp" /etc/hosts`,
  );
}
