import { createSecureServer, type Http2SecureServer, type ServerHttp2Stream } from 'node:http2';
import { connect, type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach } from 'vitest';
import type { OpenChannel } from '../../src/cluster-api/tls-channel.js';
import type { ClusterSpec } from '../../src/config/cluster-spec.js';
import { decode, encode, read } from '../../src/cluster-api/protobuf.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { localPkiStore } from '../../src/pki/store.js';

/** A member of the stand-in's list; `name` is empty until it "starts". */
export interface StandInMember {
  id: bigint;
  name: string;
  peerUrls: string[];
}

/** One call as the stand-in saw it: the client certificate's CN, the member that answered, the method. */
export interface SeenCall {
  user: string;
  member: string;
  method: string;
}

export interface EtcdStandIn {
  members: StandInMember[];
  seen: SeenCall[];
  /** Members (host names) whose channels fail to open, as a member that is down. */
  down: Set<string>;
  /** The channels of `host`'s connection: 127.0.0.1 is its own member, a node IP that host's member. */
  channelOf(host: string): OpenChannel;
}

/**
 * etcd's Cluster service (MemberList, MemberAdd, MemberRemove) over gRPC on this machine, in the
 * place of every etcd host's member, sharing one member list: HTTP/2 over TLS with each member's own
 * serving certificate of the cluster's PKI, a client certificate of the etcd CA required, answers
 * framed and ended with grpc-status trailers as etcd does. The lab's real etcd answers the same
 * calls in the e2e (membership). Closed after each test.
 */
export function useEtcdStandIn(tmp: () => string, load: (dir: string) => ClusterSpec): (members: StandInMember[]) => Promise<{ spec: ClusterSpec; etcd: EtcdStandIn }> {
  const servers: Http2SecureServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });
  return async (members) => {
    const spec = load(tmp());
    const pki = await reconcilePki(spec, localPkiStore(spec), { now: new Date() });
    await pki.persist();
    const seen: SeenCall[] = [];
    const down = new Set<string>();
    const ports = new Map<string, number>();
    for (const host of spec.hosts.filter((h) => h.roles.includes('etcd'))) {
      const cert = pki.items.get(`etcd-server/${host.name}`)!;
      const server = createSecureServer({ key: cert.keyPem, cert: cert.certPem, ca: pki.items.get('etcd-ca')!.certPem, requestCert: true, rejectUnauthorized: true });
      servers.push(server);
      server.on('stream', (stream, headers) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const method = String(headers[':path']).replace('/etcdserverpb.', '');
          seen.push({ user: String((stream.session!.socket as TLSSocket).getPeerCertificate().subject.CN), member: host.name, method });
          const body = Buffer.concat(chunks);
          answer(stream, members, method, decode(body.subarray(5, 5 + body.readUInt32BE(1))));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      ports.set(host.name, (server.address() as AddressInfo).port);
    }
    const channelOf =
      (from: string): OpenChannel =>
      async (address) => {
        const target = address === '127.0.0.1' ? from : spec.hosts.find((h) => h.nodeIp === address)?.name;
        const port = target === undefined ? undefined : ports.get(target);
        if (port === undefined || down.has(target!)) throw new Error(`connect ECONNREFUSED ${address}`);
        return connect(port, '127.0.0.1');
      };
    return { spec, etcd: { members, seen, down, channelOf } };
  };
}

function answer(stream: ServerHttp2Stream, members: StandInMember[], method: string, request: ReturnType<typeof decode>): void {
  const outcome = call(members, method, request);
  if ('message' in outcome) reply(stream, outcome.message);
  else fail(stream, outcome.code, outcome.error);
}

/** What etcd answers to the call, changing `members` as it would: a message, or a gRPC status and etcd's words. */
function call(members: StandInMember[], method: string, request: ReturnType<typeof decode>): { message: Buffer } | { code: number; error: string } {
  const list = (n: number) => members.map((m) => [n, memberMessage(m)] as const);
  switch (method) {
    case 'Cluster/MemberList':
      return { message: encode(list(2)) };
    case 'Cluster/MemberAdd': {
      const added = { id: BigInt(members.length + 1) * 0x1111111111111111n, name: '', peerUrls: read.texts(request, 1) };
      if (members.some((m) => m.peerUrls.some((u) => added.peerUrls.includes(u)))) return { code: 9, error: 'etcdserver: Peer URLs already exists' };
      members.push(added);
      return { message: encode([[2, memberMessage(added)], ...list(3)]) };
    }
    case 'Cluster/MemberRemove': {
      const at = members.findIndex((m) => m.id === read.number(request, 1));
      if (at < 0) return { code: 5, error: 'etcdserver: member not found' };
      members.splice(at, 1);
      return { message: encode(list(2)) };
    }
    default:
      return { code: 12, error: `unknown method ${method}` };
  }
}

function memberMessage(m: StandInMember): Buffer {
  return encode([[1, m.id], [2, m.name], ...m.peerUrls.map((u) => [3, u] as const)]);
}

function reply(stream: ServerHttp2Stream, message: Buffer): void {
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(message.length, 1);
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.concat([frame, message]));
}

/** A refusal as etcd sends one: headers alone ("trailers-only"). */
function fail(stream: ServerHttp2Stream, code: number, message: string): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) }, { endStream: true });
}
