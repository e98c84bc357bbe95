import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pipeline, Transform } from 'node:stream';
import { LOCAL_ETCD } from '../components/catalog.js';
import { etcdctl } from '../components/clients.js';
import { binaryPath } from '../components/paths.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { HostError, type KubestrapError } from '../errors.js';
import { asKubestrapError, type ClusterSession, type OpenHost } from '../engine/session.js';
import { writeFreshFrom } from '../fresh-file.js';
import { shJoin } from '../ssh/quote.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import { parseEndpointStatus, parseMemberList, parseSnapshotStatus, SNAPSHOT_METADATA_FORMAT, type SnapshotMetadata } from './metadata.js';
import { freeSnapshotName } from './store.js';

/** A snapshot as it arrived from a member, checked there and here, in its file in the backup folder. */
export interface TakenSnapshot {
  file: string;
  metadata: SnapshotMetadata;
  /** Members asked before this one that could not serve it, and why. */
  skipped: Array<{ host: string; reason: string }>;
  durationMs: number;
}

/** Large clusters' snapshots take a while to write and to travel. */
const SNAPSHOT_TIMEOUT_MS = 15 * 60 * 1000;

/**
 * The one command that takes a snapshot on a member, as etcd's root (the snapshot RPC needs it once
 * authentication is on). It is written to a private temp folder, read by `etcdutl snapshot status`
 * and hashed there, and removed in the same command, by the trap too if the command is cut short:
 * no copy stays on the host. The report (`@@ks-<key>` sections) goes to stderr; stdout carries the
 * snapshot's raw bytes and nothing else, streamed to the controller's disk as they come.
 */
export function snapshotScript(host: HostSpec): string {
  const root = etcdctl(host, LOCAL_ETCD, 'admin');
  const etcdutl = binaryPath(host, 'etcdutl');
  const file = '"$ks_dir/snapshot.db"';
  const section = (key: string, body: string) => `echo "@@ks-${key}"\n${body}`;
  return [
    'umask 077',
    // fd 3 is the real stdout (the snapshot's bytes only); everything else reports on stderr.
    'exec 3>&1 1>&2',
    'ks_dir=$(mktemp -d /tmp/kubestrap-snapshot.XXXXXX) || { echo "@@ks-error"; echo "cannot make a temp folder"; exit 1; }',
    `trap 'rm -rf "$ks_dir"' EXIT HUP INT TERM`,
    // Status and members at once (each etcdctl is a process start and a TLS handshake). A member that
    // does not answer is skipped at once: the snapshot's long timeout is for a member that does.
    `${root} member list >"$ks_dir/members" 2>&1 &`,
    `if ! ${root} endpoint status -w json >"$ks_dir/status" 2>&1; then wait; ${section('error', 'cat "$ks_dir/status"; exit 1')}; fi`,
    'wait',
    section('status', `cat "$ks_dir/status"`),
    section('members', `cat "$ks_dir/members"`),
    // etcdctl writes `<file>.part` and renames it: the file exists only when the snapshot is whole.
    // The later --command-timeout wins: a large snapshot takes longer than a check.
    `if ! ${root} --command-timeout=600s snapshot save ${file} >"$ks_dir/log" 2>&1; then ${section('error', 'cat "$ks_dir/log"; exit 1')}; fi`,
    // etcdutl's read and the hash at once too.
    `sha256sum ${file} | cut -d' ' -f1 >"$ks_dir/sha256" &`,
    section('check', `${shJoin([etcdutl, 'snapshot', 'status'])} ${file} -w json 2>&1`),
    'wait',
    section('sha256', `cat "$ks_dir/sha256"`),
    section('size', `wc -c < ${file}`),
    `cat ${file} >&3 || { ${section('error', 'echo "cannot send the snapshot"; exit 1')}; }`,
    'exec 3>&-',
    'rm -rf "$ks_dir"',
    section('end', ':'),
  ].join('\n');
}

/** The script's report cut at its `@@ks-<key>` lines. */
export function parseSnapshotOutput(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  let key: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (key !== undefined) out.set(key, lines.join('\n').trim());
  };
  for (const line of stdout.split('\n')) {
    const m = /^@@ks-([a-z0-9]+)$/.exec(line);
    if (m) {
      flush();
      key = m[1];
      lines = [];
    } else lines.push(line);
  }
  flush();
  return out;
}

/** What arrived on the controller: counted and hashed as it was written, never held whole. */
export interface Arrived {
  size: number;
  sha256: string;
}

/**
 * What the member reported and what arrived, checked: the bytes are the ones the member hashed and
 * `etcdutl snapshot status` read; anything else is an error naming the member.
 */
export function readSnapshotOutput(spec: ClusterSpec, host: HostSpec, report: string, arrived: Arrived, takenAt: Date): SnapshotMetadata {
  const s = parseSnapshotOutput(report);
  const fail = (message: string, detail?: string) => new HostError(host.name, message, detail ? { stderrTail: detail } : {}, 'check etcd on that member: bootstrap health, journalctl -u etcd');
  if (s.has('error')) throw fail('etcdctl snapshot save failed', s.get('error'));
  const status = parseEndpointStatus(s.get('status') ?? '');
  if (!status) throw fail('etcd did not answer endpoint status', s.get('status'));
  const members = parseMemberList(s.get('members') ?? '');
  if (!members.length) throw fail('etcd did not answer member list', s.get('members'));
  const checked = parseSnapshotStatus(s.get('check') ?? '');
  if (!checked) throw fail('etcdutl snapshot status could not read the snapshot', s.get('check'));
  if (!s.has('end')) throw fail('the snapshot command did not finish');
  const remoteHash = s.get('sha256') ?? '';
  if (arrived.sha256 !== remoteHash || arrived.size !== Number(s.get('size'))) {
    throw fail(`the snapshot changed on its way: ${arrived.size} bytes with sha256 ${arrived.sha256} arrived, the member had ${s.get('size')} bytes with sha256 ${remoteHash}`);
  }
  return {
    format: SNAPSHOT_METADATA_FORMAT,
    cluster: spec.name,
    takenAt: takenAt.toISOString(),
    takenFrom: host.name,
    etcdVersion: status.version,
    revision: status.revision,
    clusterId: status.clusterId,
    members,
    size: arrived.size,
    sha256: arrived.sha256,
    status: checked,
  };
}

/**
 * Runs the snapshot command on one member with its stdout streamed into a fresh 0600 temp file in
 * `dir` and hashed on the way; the file is renamed to its snapshot name only once the member's
 * report agrees, else removed. The metadata is the caller's to write.
 */
export async function streamSnapshot(spec: ClusterSpec, member: HostSpec, remote: RemoteHost, dir: string, takenAt: Date): Promise<{ file: string; metadata: SnapshotMetadata }> {
  const file = join(dir, freeSnapshotName(dir, takenAt));
  let metadata: SnapshotMetadata | undefined;
  await writeFreshFrom(file, 0o600, async (out) => {
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    // pipeline: a file that cannot be written (a full disk) fails the counter too, which stops the command.
    const written = new Promise<void>((resolve, reject) => pipeline(counter, out, (err) => (err ? reject(err) : resolve())));
    written.catch(() => undefined);
    const result = await remote.runToOutput(snapshotScript(member), counter, { timeoutMs: SNAPSHOT_TIMEOUT_MS });
    await written;
    metadata = readSnapshotOutput(spec, member, result.stderr, { size, sha256: hash.digest('hex') }, takenAt);
  });
  if (!metadata) throw new HostError(member.name, 'the snapshot command gave no report');
  return { file, metadata };
}

/**
 * `etcd backup` as a procedure on the session: the etcd members in inventory order, the first that
 * answers and serves a checked snapshot gives it; a member that is down or fails is skipped, with
 * its reason kept for the report.
 */
export async function takeSnapshot(spec: ClusterSpec, session: ClusterSession<HostSpec>, dir: string): Promise<TakenSnapshot> {
  const started = Date.now();
  const members = spec.hosts.filter((h) => h.roles.includes('etcd'));
  const skipped: TakenSnapshot['skipped'] = [];
  const { open, lost } = await session.connect();
  for (const member of members) {
    const gone = lost.find((l) => l.host.name === member.name);
    if (gone) {
      skipped.push({ host: member.name, reason: gone.error.message });
      continue;
    }
    const h = open.find((o): o is OpenHost<HostSpec> => o.host.name === member.name);
    if (!h) continue;
    try {
      const snapshot = await streamSnapshot(spec, member, h.remote, dir, new Date());
      return { ...snapshot, skipped, durationMs: Date.now() - started };
    } catch (err) {
      skipped.push({ host: member.name, reason: reason(asKubestrapError(member.name, err)) });
    }
  }
  throw new HostError(
    members.map((m) => m.name).join(', ') || '(no etcd member)',
    `no etcd member gave a snapshot: ${skipped.map((s) => `${s.host}: ${s.reason}`).join('; ') || 'the inventory has no host with the etcd role'}`,
    {},
    'bootstrap health shows what is wrong with etcd; a snapshot needs one member that answers',
  );
}

function reason(err: KubestrapError): string {
  const tail = err instanceof HostError && err.details.stderrTail ? ` (${err.details.stderrTail.trim().split('\n').slice(-2).join(' ')})` : '';
  return `${err.message}${tail}`;
}
