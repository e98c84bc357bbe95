import type { RecordFields } from './host-record.js';
import type { TransferCodec } from '../transfer/transfer-codec.js';

/**
 * The engine's vocabulary: what should be true on a host, as plain data. Phases return these; only
 * the engine reads a host's state and changes it, which is what keeps `plan` truthful.
 */
export interface FileResource {
  kind: 'file';
  path: string;
  content: string | Buffer;
  mode: number;
  owner: string;
  group: string;
  /** Services to restart when this file changes. */
  restarts: string[];
  /**
   * Never show its content (private keys, tokens). A file whose mode, wanted or found on the host,
   * gives nothing to group and others is secret without saying so.
   */
  secret?: boolean;
}

/**
 * A file from the controller's disk (a downloaded binary), too large to hold in memory: compared by
 * sha256 through kubestrap's record on the host (see host-record.ts), sent streamed and encoded.
 */
export interface LocalFileResource {
  kind: 'localFile';
  path: string;
  mode: number;
  owner: string;
  group: string;
  /** What the host's copy must be, and the encoded local file that carries it there. */
  source: { sha256: string; size: number; transfer: { codec: TransferCodec; file: string; bytes: number } };
  /** Services to restart when this file changes. */
  restarts: string[];
  /** Hash the host's copy even when the record vouches for it (apply --verify-binaries). */
  verify?: boolean;
  /** Extra fields for the host's record, e.g. component and version. */
  record?: RecordFields;
  /** Shown in plans, e.g. `kubelet v1.36.0`. */
  label?: string;
  /** Lines a plan shows under its install: why it comes from where it does. */
  why?: string[];
}

export interface DirectoryResource {
  kind: 'directory';
  path: string;
  mode: number;
  owner: string;
  group: string;
}

/** How the engine knows a service it started or restarted is serving, not just running. */
export interface ReadinessCheck {
  /** Exits 0 once the service is ready; runs on the host, once a second until it passes. */
  check: string;
  /** What ready means, for messages: e.g. `answers /readyz`. */
  description: string;
  timeoutSec: number;
}

export interface ServiceResource {
  kind: 'service';
  name: string;
  enabled?: boolean;
  running?: boolean;
  /** A unit that is not installed satisfies the resource (e.g. a firewall that was never installed). */
  ifPresent?: boolean;
  /** After each start or restart, wait for this before going on; a timeout fails the host with the unit's journal. */
  ready?: ReadinessCheck;
  /**
   * Restarts go one host at a time across the cluster, each waited on (see `ready`) before the
   * next, after every host applied the phase's other changes: members of a quorum, API servers.
   * First starts are not rolled: members of a new cluster must start together.
   */
  rolling?: boolean;
  /**
   * A change of its inputs reloads it (`systemctl reload`: the unit's ExecReload) instead of
   * restarting it: for a daemon that takes new configuration without dropping its connections
   * (haproxy). Starts and stops are unchanged.
   */
  reloads?: boolean;
}

export interface PackageResource {
  kind: 'package';
  /** Package names for the host's distribution (the OS adapter maps generic names). */
  names: string[];
  /** Lines a plan shows under its install: why these packages, from where. */
  why?: string[];
}

export interface SysctlResource {
  kind: 'sysctl';
  key: string;
  value: string;
}

export interface KernelModuleResource {
  kind: 'kernelModule';
  name: string;
}

export interface FirewallOffResource {
  kind: 'firewallOff';
  /** Firewall services this OS family may run, e.g. firewalld, ufw. */
  services: string[];
}

export interface SelinuxResource {
  kind: 'selinux';
  mode: 'permissive';
}

export interface SwapOffResource {
  kind: 'swapOff';
}

export interface HostnameResource {
  kind: 'hostname';
  name: string;
}

export interface HostsEntriesResource {
  kind: 'hostsEntries';
  entries: Array<{ ip: string; names: string[] }>;
}

/** Passes when `list`'s output has `line` as one of its lines (whole, exactly). */
export interface ListedCheck {
  list: string;
  line: string;
}

export interface CommandResource {
  kind: 'command';
  /** Stable name for reports and ids, e.g. `iptables-forward-accept`. */
  name: string;
  description: string;
  /**
   * Exits 0 when nothing needs doing; runs inside the batched probe, so it must only look. Or a
   * line that a listing must print for nothing to need doing: a host's checks of one listing share
   * one run of it (one `ctr images ls` for every image, not one each).
   */
  check: string | ListedCheck;
  run: string;
  /** What to do when `run` fails: shown with the error. */
  failureHint?: string;
  /** Runs with the services, after they are started (e.g. it talks to one of them), not before. */
  afterServices?: boolean;
  /** For a `run` that waits on purpose (longer than a command's default limit). */
  timeoutSec?: number;
}

/**
 * What must not be on a host: absence is desired state like presence. The engine derives these
 * from its host record for what a phase installed earlier and no longer wants (a template removed
 * from the tree, a role the host lost); a phase may also declare them (what it tears down).
 *   file: removed (a binary's record line with it); a unit file reloads systemd.
 *   directory: removed when empty; one that holds data stays (reset removes data when asked).
 *   service: stopped and disabled; its unit file is a file of its own.
 *   package: removed with the host's package manager.
 */
export interface AbsentResource {
  kind: 'absent';
  of: 'file' | 'directory' | 'service' | 'package';
  /** The path of a file or directory, a service's unit name, or package names joined by commas. */
  name: string;
  /** Services that read a file being removed (a drop-in, a config): restarted if they keep running. */
  restarts?: string[];
  /** A folder's files that the same run removes first: the folder counts as empty without them. */
  emptiedBy?: string[];
  /** A folder removed with everything in it (data a reset was asked to delete), on its own filesystem only. */
  recursive?: boolean;
}

/**
 * The host record's entry for one phase (see host-record.ts): the ids of what it installed there,
 * and fields it keeps for later runs (versions, settings). The engine adds one to every phase that
 * installs something, so that what a later run no longer wants can be found and removed.
 */
export interface RecordResource {
  kind: 'record';
  phase: string;
  /** Ids of the files, binaries, folders and services the phase installed, sorted. */
  ids: string[];
  /** For each installed file that services read, those services: restarted when the file goes. */
  restarts: Readonly<Record<string, string[]>>;
  fields: RecordFields;
}

export type Resource =
  | AbsentResource
  | RecordResource
  | FileResource
  | LocalFileResource
  | DirectoryResource
  | ServiceResource
  | PackageResource
  | SysctlResource
  | KernelModuleResource
  | FirewallOffResource
  | SelinuxResource
  | SwapOffResource
  | HostnameResource
  | HostsEntriesResource
  | CommandResource;

export type ResourceKindName = Resource['kind'];

/** A stable id: what the resource is about, so two resources about one thing collide visibly. */
export function resourceId(r: Resource): string {
  switch (r.kind) {
    case 'file':
    case 'localFile':
      // One path, one id: a rendered file and an uploaded one on the same path collide visibly.
      return `file:${r.path}`;
    case 'directory':
      return `${r.kind}:${r.path}`;
    case 'service':
      return `service:${r.name}`;
    case 'package':
      return `package:${r.names.join(',')}`;
    case 'sysctl':
      return `sysctl:${r.key}`;
    case 'kernelModule':
      return `module:${r.name}`;
    case 'command':
      return `command:${r.name}`;
    case 'absent':
      return `${r.of}:${r.name}`;
    case 'record':
      return `record:${r.phase}`;
    case 'hostname':
    case 'hostsEntries':
    case 'selinux':
    case 'swapOff':
    case 'firewallOff':
      return r.kind;
  }
}
