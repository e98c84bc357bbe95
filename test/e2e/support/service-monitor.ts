import { z } from 'zod';
import { PKI_PATHS } from '../../../src/components/paths.js';
import type { LabHosts } from './hosts.js';

/**
 * A watch on lab hosts while a run changes them: a loop on every host (a transient systemd unit, so
 * it outlives the command that starts it) samples each service's state every 0.2 s, with systemd's
 * own monotonic timestamps of when it last left and entered `active`, so that even a restart shorter
 * than a sample is seen, with its exact interval. One host also watches the nodes' objects where
 * the API server keeps them (an etcd watch on its member): every change of a node, its cordon and
 * kubestrap's drained mark, is stamped as it arrives, so a stamp is never earlier than the change.
 * (A poll through the API cannot prove a cordon came before a restart: the cordon may land between
 * the poll's read and the restart, tens of milliseconds apart.) Every host shares the lab machine's
 * kernel, so their monotonic clocks are one clock: intervals of different hosts compare.
 * `/proc/uptime` (boot time) stands for it in the node stamps: the lab machine does not suspend, so
 * the two agree.
 */
export const WATCHED_SERVICES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'containerd', 'docker'] as const;
export type WatchedService = (typeof WATCHED_SERVICES)[number];

const UNIT = 'kubestrap-e2e-monitor';
const NODE_UNIT = 'kubestrap-e2e-node-watch';
const LOG = '/var/tmp/kubestrap-e2e-monitor.log';
const NODE_LOG = '/var/tmp/kubestrap-e2e-node-watch.log';
const DRAINED_ANNOTATION = 'kubestrap.io/drained';

const serviceLoop = `while :; do
  echo "T $(cut -d' ' -f1 /proc/uptime)"
  systemctl show -p Id,ActiveState,MainPID,ActiveEnterTimestampMonotonic,ActiveExitTimestampMonotonic ${WATCHED_SERVICES.join(' ')}
  echo
  sleep 0.2
done >> ${LOG} 2>&1`;

/** Where the API server stand-in keeps Node objects, one line of JSON each (test/standins/standin.py `key`). */
const NODES_PREFIX = '/registry/nodes/';
const ETCDCTL = `/opt/kube/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=${PKI_PATHS.etcdCaCert} --cert=${PKI_PATHS.etcdAdminClientCert} --key=${PKI_PATHS.etcdAdminClientKey}`;

// Each node object stamped as it arrives: first the current ones (a watch (re)started later than a
// change would not show it), then every change. etcdctl resumes a watch across its member's restart;
// should it exit, the loop starts again.
const nodeLoop = `stamp() { while IFS= read -r v; do case "$v" in '{'*) read -r up rest < /proc/uptime; printf 'V %s %s\\n' "$up" "$v";; esac; done; }
while :; do
  ${ETCDCTL} get --prefix --print-value-only ${NODES_PREFIX} | stamp
  ${ETCDCTL} watch --prefix ${NODES_PREFIX} | stamp
  sleep 0.2
done >> ${NODE_LOG} 2>&1`;

/** A service out of `active` on one host: from systemd's ActiveExit to the next ActiveEnter (seconds of the monotonic clock). */
export interface DownInterval {
  host: string;
  service: WatchedService;
  from: number;
  to: number;
}

/** One sample of the nodes: per node, whether it is cordoned and carries kubestrap's drained mark. */
export interface NodeSample {
  at: number;
  nodes: Map<string, { cordoned: boolean; marked: boolean }>;
}

export interface MonitorResult {
  /** When the watch started, on the monotonic clock. */
  since: number;
  samples: number;
  down: DownInterval[];
  nodes: NodeSample[];
}

/**
 * Every restart (or stop) after `since` that the samples of one host show, by service: from each
 * ActiveExit seen to the first ActiveEnter after it. A loaded machine may stall the loop past a short
 * restart's ActiveEnter (a second restart overwrites it): then the next ActiveExit ends it, as the
 * unit must have been active again to leave active again, which makes the interval longer, not shorter.
 */
export function downIntervals(host: string, log: string, since: number): DownInterval[] {
  const exits = new Map<WatchedService, Set<number>>();
  const enters = new Map<WatchedService, Set<number>>();
  for (const block of log.split(/\n\s*\n/)) {
    const props = Object.fromEntries(
      block
        .split('\n')
        .map((l) => /^(\w+)=(.*)$/.exec(l))
        .filter((m) => m !== null)
        .map((m) => [m[1]!, m[2]!]),
    );
    const service = props.Id?.replace(/\.service$/, '') as WatchedService | undefined;
    if (!service || !WATCHED_SERVICES.includes(service)) continue;
    const exit = Number(props.ActiveExitTimestampMonotonic ?? 0) / 1e6;
    const enter = Number(props.ActiveEnterTimestampMonotonic ?? 0) / 1e6;
    if (exit > since) exits.set(service, (exits.get(service) ?? new Set()).add(exit));
    if (enter > since) enters.set(service, (enters.get(service) ?? new Set()).add(enter));
  }
  return [...exits].flatMap(([service, froms]) =>
    [...froms].map((from) => {
      const after = [...(enters.get(service) ?? []), ...froms].filter((t) => t > from);
      return { host, service, from, to: after.length ? Math.min(...after) : Number.POSITIVE_INFINITY };
    }),
  );
}

/** The most intervals of one service that were open at one instant, and where. */
export function maxConcurrent(down: readonly DownInterval[], service: WatchedService): { count: number; hosts: string[] } {
  const mine = down.filter((d) => d.service === service);
  let best = { count: 0, hosts: [] as string[] };
  for (const d of mine) {
    const open = mine.filter((o) => o.from <= d.from && o.to > d.from);
    if (open.length > best.count) best = { count: open.length, hosts: open.map((o) => o.host) };
  }
  return best;
}

const NodeObjectSchema = z.object({
  metadata: z.object({ name: z.string(), annotations: z.record(z.string(), z.string()).optional() }),
  spec: z.object({ unschedulable: z.boolean().optional() }).optional(),
});

/** The watch's stamped objects as samples: after each, every node as last seen. */
export function nodeSamples(log: string): NodeSample[] {
  const known = new Map<string, { cordoned: boolean; marked: boolean }>();
  return log
    .split('\n')
    .filter((l) => l.startsWith('V '))
    .map((l) => {
      const [, at, ...json] = l.split(' ');
      const node = NodeObjectSchema.parse(JSON.parse(json.join(' ')));
      known.set(node.metadata.name, { cordoned: node.spec?.unschedulable === true, marked: node.metadata.annotations?.[DRAINED_ANNOTATION] === 'true' });
      return { at: Number(at), nodes: new Map(known) };
    });
}

/** The nodes as they were at `at`: the last change stamped before it (undefined before the first). */
export function nodesBefore(samples: readonly NodeSample[], at: number): NodeSample | undefined {
  return samples.filter((s) => s.at < at).at(-1);
}

export interface ServiceMonitor {
  start(): Promise<void>;
  /** Stops the loops and reads what they saw. */
  stop(): Promise<MonitorResult>;
}

/** The watch on every host of `hosts`; node samples from host `nodeWatcher` (a master). */
export function serviceMonitor(hosts: LabHosts, nodeWatcher = 0): ServiceMonitor {
  let since = 0;
  const indexes = () => hosts.all().map((_, i) => i);
  // The loop travels as base64 into a file of its own: no quoting of its quotes and jsonpath.
  const unit = (name: string, loop: string) =>
    `systemctl stop ${name} 2>/dev/null; systemctl reset-failed ${name} 2>/dev/null; echo ${Buffer.from(loop).toString('base64')} | base64 -d > /var/tmp/${name}.sh && systemd-run --quiet --unit=${name} --collect /bin/sh /var/tmp/${name}.sh`;
  return {
    async start() {
      since = Number((await hosts.run(0, "cut -d' ' -f1 /proc/uptime")).trim());
      await Promise.all(indexes().map((i) => hosts.run(i, `rm -f ${LOG} ${NODE_LOG}; ${unit(UNIT, serviceLoop)}`)));
      await hosts.run(nodeWatcher, unit(NODE_UNIT, nodeLoop));
    },
    async stop() {
      await hosts.run(nodeWatcher, `systemctl stop ${NODE_UNIT}`);
      const logs = await Promise.all(indexes().map((i) => hosts.run(i, `systemctl stop ${UNIT}; cat ${LOG}`)));
      const down = logs.flatMap((log, i) => downIntervals(hosts.host(i).name, log, since));
      const samples = logs.reduce((n, log) => Math.min(n, log.split('\n').filter((l) => l.startsWith('T ')).length), Number.POSITIVE_INFINITY);
      return { since, samples, down, nodes: nodeSamples(await hosts.run(nodeWatcher, `cat ${NODE_LOG}`)) };
    },
  };
}
