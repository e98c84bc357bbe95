import crypto from 'node:crypto';
import { sh, shTry } from './run.js';

/**
 * Each lab has a bridge of its own and a /24 that must exist nowhere else on the machine: hosts talk
 * to each other and to the gateway (the bridge address), and nothing routes out of the lab.
 */
export interface LabNet {
  index: number;
  bridge: string;
  gateway: string;
  subnet: string;
}

export const FIRST_HOST_OCTET = 11;
export const LAST_HOST_OCTET = 250;

/** 10.88.N.0/24 with N from the lab name (1..250), so two differently named labs rarely collide. */
export function defaultIndex(lab: string): number {
  return (crypto.createHash('sha256').update(lab).digest().readUInt16BE(0) % 250) + 1;
}

export function labNet(lab: string, index: number): LabNet {
  if (!Number.isInteger(index) || index < 0 || index > 255) throw new Error(`subnet index must be 0..255 (got ${index})`);
  const name = `kl-${lab}`;
  return {
    index,
    bridge: name.length <= 15 ? name : `kl-${lab.slice(0, 6)}-${index}`,
    gateway: `10.88.${index}.1`,
    subnet: `10.88.${index}.0/24`,
  };
}

export function hostAddress(net: LabNet, octet: number): string {
  return `10.88.${net.index}.${octet}`;
}

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function cidrRange(cidr: string): [number, number] {
  const [ip = '0.0.0.0', bitsText = '32'] = cidr.split('/');
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  const start = Math.floor(toInt(ip) / size) * size;
  return [start, start + size - 1];
}

function overlaps(a: string, b: string): boolean {
  const [a0, a1] = cidrRange(a);
  const [b0, b1] = cidrRange(b);
  return a0 <= b1 && b0 <= a1;
}

interface IpRoute {
  dst: string;
  dev?: string;
}

interface IpAddr {
  ifname: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

/**
 * Refuses a subnet that any route or address on the machine already covers (except our own bridge),
 * because sending lab traffic there would reach somebody else's network. The default route is
 * not a conflict: it is where traffic goes only when nothing more specific exists.
 */
export async function assertSubnetFree(net: LabNet): Promise<void> {
  const routes = JSON.parse((await sh`ip -j -4 route show table all`).stdout) as IpRoute[];
  const addrs = JSON.parse((await sh`ip -j -4 addr show`).stdout) as IpAddr[];
  const taken: Array<{ cidr: string; dev: string }> = [];
  for (const r of routes) {
    if (r.dst === 'default' || r.dst.includes(':')) continue;
    taken.push({ cidr: r.dst.includes('/') ? r.dst : `${r.dst}/32`, dev: r.dev ?? '?' });
  }
  for (const a of addrs) {
    for (const info of a.addr_info ?? []) taken.push({ cidr: `${info.local}/${info.prefixlen}`, dev: a.ifname });
  }
  const clash = taken.find((t) => t.dev !== net.bridge && overlaps(t.cidr, net.subnet));
  if (clash) {
    throw new Error(`lab subnet ${net.subnet} overlaps ${clash.cidr} on ${clash.dev}; choose another with --subnet-index N (labUp({ subnetIndex })) or another lab name`);
  }
}

export async function linkExists(name: string): Promise<boolean> {
  return (await shTry`ip link show dev ${name}`).exitCode === 0;
}

export async function createBridge(net: LabNet): Promise<void> {
  if (!(await linkExists(net.bridge))) await sh`ip link add ${net.bridge} type bridge`;
  const has = (await sh`ip -4 -o addr show dev ${net.bridge}`).stdout.includes(` ${net.gateway}/24 `);
  if (!has) await sh`ip addr add ${net.gateway}/24 dev ${net.bridge}`;
  await sh`ip link set ${net.bridge} up`;
}

export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await sh`ip link del ${name}`;
}

/** Host-side veth names nspawn gives our machines (`vb-MACHINE`), also those whose bridge is gone. */
export async function vethsOf(bridge: string, machinePrefix: string): Promise<string[]> {
  const links = JSON.parse((await sh`ip -j link show`).stdout) as Array<{ ifname: string; master?: string }>;
  return links.filter((l) => l.master === bridge || l.ifname.startsWith(`vb-${machinePrefix}`)).map((l) => l.ifname.split('@')[0] ?? l.ifname);
}

export function vethOf(machine: string): string {
  return `vb-${machine}`;
}

/** A cut is a bridge port detached, as if its cable was pulled at the switch: the guest keeps carrier. */
export async function detachPort(machine: string): Promise<void> {
  await sh`ip link set ${vethOf(machine)} nomaster`;
}

export async function attachPort(machine: string, bridge: string): Promise<void> {
  await sh`ip link set ${vethOf(machine)} master ${bridge}`;
  await sh`ip link set ${vethOf(machine)} up`;
}
