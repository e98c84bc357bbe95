import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { sh } from './run.js';

/**
 * The machine's kernel has every module built in and no module files, so `modprobe X` inside a host
 * fails although X works. Listing the built-in ones in `modules.builtin` makes modprobe succeed for
 * exactly those, and still fail for what the kernel really lacks (ip_vs here): provisioning code
 * must see the same answers it would get on a real server with this kernel.
 */
const MODULES: Array<{ config: string; path: string }> = [
  { config: 'BRIDGE', path: 'kernel/net/bridge/bridge.ko' },
  { config: 'BRIDGE_NETFILTER', path: 'kernel/net/bridge/br_netfilter.ko' },
  { config: 'OVERLAY_FS', path: 'kernel/fs/overlayfs/overlay.ko' },
  { config: 'VXLAN', path: 'kernel/drivers/net/vxlan/vxlan.ko' },
  { config: 'VETH', path: 'kernel/drivers/net/veth.ko' },
  { config: 'NF_CONNTRACK', path: 'kernel/net/netfilter/nf_conntrack.ko' },
  { config: 'NF_NAT', path: 'kernel/net/netfilter/nf_nat.ko' },
  { config: 'NF_TABLES', path: 'kernel/net/netfilter/nf_tables.ko' },
  { config: 'NF_DEFRAG_IPV4', path: 'kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko' },
  { config: 'IP_NF_IPTABLES', path: 'kernel/net/ipv4/netfilter/ip_tables.ko' },
  { config: 'IP_NF_FILTER', path: 'kernel/net/ipv4/netfilter/iptable_filter.ko' },
  { config: 'IP_NF_NAT', path: 'kernel/net/ipv4/netfilter/iptable_nat.ko' },
  { config: 'IP_NF_MANGLE', path: 'kernel/net/ipv4/netfilter/iptable_mangle.ko' },
  { config: 'IP6_NF_IPTABLES', path: 'kernel/net/ipv6/netfilter/ip6_tables.ko' },
  { config: 'NETFILTER_XT_MATCH_CONNTRACK', path: 'kernel/net/netfilter/xt_conntrack.ko' },
  { config: 'NETFILTER_XT_MATCH_COMMENT', path: 'kernel/net/netfilter/xt_comment.ko' },
  { config: 'NETFILTER_XT_MATCH_MULTIPORT', path: 'kernel/net/netfilter/xt_multiport.ko' },
  { config: 'NETFILTER_XT_MARK', path: 'kernel/net/netfilter/xt_mark.ko' },
  { config: 'NETFILTER_XT_TARGET_MASQUERADE', path: 'kernel/net/netfilter/xt_MASQUERADE.ko' },
  { config: 'NETFILTER_XT_SET', path: 'kernel/net/netfilter/xt_set.ko' },
  { config: 'IP_SET', path: 'kernel/net/netfilter/ipset/ip_set.ko' },
  { config: 'IP_VS', path: 'kernel/net/netfilter/ipvs/ip_vs.ko' },
  { config: 'IP_VS_RR', path: 'kernel/net/netfilter/ipvs/ip_vs_rr.ko' },
  { config: 'IP_VS_WRR', path: 'kernel/net/netfilter/ipvs/ip_vs_wrr.ko' },
  { config: 'IP_VS_SH', path: 'kernel/net/netfilter/ipvs/ip_vs_sh.ko' },
  { config: 'BRIDGE_NF_EBTABLES', path: 'kernel/net/bridge/netfilter/ebtables.ko' },
  { config: 'IPV6', path: 'kernel/net/ipv6/ipv6.ko' },
  { config: 'TUN', path: 'kernel/drivers/net/tun.ko' },
  { config: 'DUMMY', path: 'kernel/drivers/net/dummy.ko' },
  { config: 'IPVLAN', path: 'kernel/drivers/net/ipvlan/ipvlan.ko' },
  { config: 'MACVLAN', path: 'kernel/drivers/net/macvlan.ko' },
  { config: 'NET_IPIP', path: 'kernel/net/ipv4/ipip.ko' },
  { config: 'NET_SCH_INGRESS', path: 'kernel/net/sched/sch_ingress.ko' },
];

let cached: string[] | undefined;

/** Module paths whose CONFIG_ option is `=y` in the running kernel (`=m` would need a file we lack). */
export function builtinModules(): string[] {
  if (cached) return cached;
  let config = '';
  try {
    config = zlib.gunzipSync(fs.readFileSync('/proc/config.gz')).toString('utf8');
  } catch {
    return (cached = []); // without the config we cannot tell, so claim nothing
  }
  const yes = new Set([...config.matchAll(/^CONFIG_(\w+)=y$/gm)].map((m) => m[1]));
  return (cached = MODULES.filter((m) => yes.has(m.config)).map((m) => m.path));
}

/** Writes modules.builtin (+ modules.order) into the host's root and indexes them with the guest's depmod. */
export async function installBuiltinModules(root: string): Promise<void> {
  const release = os.release();
  const dir = path.join(root, 'lib/modules', release);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'modules.builtin'), builtinModules().join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'modules.order'), '');
  await sh`chroot ${root} /sbin/depmod ${release}`;
}
