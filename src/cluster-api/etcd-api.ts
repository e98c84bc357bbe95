import { connect as http2Connect, constants, type ClientHttp2Session } from 'node:http2';
import type { EtcdMember as ListedMember } from '../components/etcd-members.js';
import { ClusterApiError } from '../errors.js';
import { decode, encode, read, type Message } from './protobuf.js';
import { tlsOver, type ClientIdentity, type OpenChannel } from './tls-channel.js';
import type { ApiEndpoint } from './kube-api.js';

/** How long one call may take, the TLS handshake included. */
const CALL_TIMEOUT_MS = 10_000;

/** gRPC status codes etcd answers with that callers tell apart (https://grpc.io/docs/guides/status-codes/). */
const GRPC_PERMISSION_DENIED = 7;

/** A member as etcd lists it: what etcdctl's text gives (components/etcd-members.ts), and more. */
export interface EtcdMember extends ListedMember {
  clientUrls: string[];
  isLearner: boolean;
}

export interface EtcdStatus {
  version: string;
  memberId: string;
  leader: string;
  dbSize: number;
  /** The member's own errors (an alarm such as NOSPACE): empty when healthy. */
  errors: string[];
}

/** A Range answer: the value of the key, or why etcd refused to read it. */
export type EtcdRead = { kind: 'value'; value: string | undefined } | { kind: 'denied'; message: string };

/**
 * etcd's gRPC API (the one etcdctl speaks), from the controller through a member's forwarded
 * channel, as the identity's user: etcd takes the client certificate's CN as the user when auth is
 * on. Not the JSON gateway: it ignores the certificate's CN (etcd PR #10366, CVE-2018-16886), so
 * under auth it could read nothing a role grants. Round trips per call: one channel open, the TLS
 * handshake, one HTTP/2 request.
 */
export class EtcdApi {
  constructor(
    private readonly open: OpenChannel,
    private readonly endpoint: ApiEndpoint,
    private readonly identity: ClientIdentity,
  ) {}

  async memberList(): Promise<EtcdMember[]> {
    return read.messages(await this.unary('Cluster/MemberList', Buffer.alloc(0)), 2).map(memberOf);
  }

  /** Adds a member (not a learner) at `peerUrls`; resolves to the members after, the new one unstarted. Under auth, root only. */
  async memberAdd(peerUrls: readonly string[]): Promise<EtcdMember[]> {
    const answer = await this.unary('Cluster/MemberAdd', encode(peerUrls.map((u) => [1, u] as const)));
    return read.messages(answer, 3).map(memberOf);
  }

  /** Removes the member of that ID (hex, as memberList gives it). Under auth, root only. */
  async memberRemove(id: string): Promise<void> {
    await this.unary('Cluster/MemberRemove', encode([[1, BigInt(`0x${id}`)]]));
  }

  /** Under auth, for etcd's root only: the health check's user is refused it. */
  async status(): Promise<EtcdStatus> {
    const answer = await this.unary('Maintenance/Status', Buffer.alloc(0));
    const header = read.messages(answer, 1)[0] ?? new Map();
    return {
      version: read.text(answer, 2),
      memberId: read.number(header, 2).toString(16),
      leader: read.number(answer, 4).toString(16),
      dbSize: Number(read.number(answer, 3)),
      errors: read.texts(answer, 8),
    };
  }

  /** One key's value; a refusal for lack of permission is an answer, not an error (it is how auth shows). */
  async get(key: string): Promise<EtcdRead> {
    try {
      const answer = await this.unary('KV/Range', encode([[1, Buffer.from(key, 'utf8')]]));
      const kv = read.messages(answer, 2)[0];
      return { kind: 'value', value: kv ? read.text(kv, 5) : undefined };
    } catch (err) {
      if (err instanceof GrpcStatusError && err.code === GRPC_PERMISSION_DENIED) return { kind: 'denied', message: err.message };
      throw err;
    }
  }

  /** Writes `value` at `key` (etcdctl put). */
  async put(key: string, value: string): Promise<void> {
    await this.unary(
      'KV/Put',
      encode([
        [1, Buffer.from(key, 'utf8')],
        [2, Buffer.from(value, 'utf8')],
      ]),
    );
  }

  /** Every key under `prefix` with its value, in key order. */
  async getPrefix(prefix: string): Promise<Array<{ key: string; value: string }>> {
    const answer = await this.unary(
      'KV/Range',
      encode([
        [1, Buffer.from(prefix, 'utf8')],
        [2, prefixEnd(Buffer.from(prefix, 'utf8'))],
      ]),
    );
    return read.messages(answer, 2).map((kv) => ({ key: read.text(kv, 1), value: read.text(kv, 5) }));
  }

  // Users and roles (etcd's Auth service; under auth, root only). What etcdctl's `role` and `user`
  // commands send; each call is one change, so a caller orders them as it needs.

  async roleList(): Promise<string[]> {
    return read.texts(await this.unary('Auth/RoleList', Buffer.alloc(0)), 2);
  }

  async roleAdd(name: string): Promise<void> {
    await this.unary('Auth/RoleAdd', encode([[1, name]]));
  }

  async roleDelete(name: string): Promise<void> {
    await this.unary('Auth/RoleDelete', encode([[1, name]]));
  }

  /** Grants `permission` on every key under `prefix` ('' is the whole keyspace); granting what the role has again is a no-op. */
  async roleGrantPrefix(name: string, permission: EtcdPermission, prefix: string): Promise<void> {
    await this.unary(
      'Auth/RoleGrantPermission',
      encode([
        [1, name],
        [2, permissionMessage(permission, prefix)],
      ]),
    );
  }

  async userList(): Promise<string[]> {
    return read.texts(await this.unary('Auth/UserList', Buffer.alloc(0)), 2);
  }

  /** A user without a password: its client certificate's CN is its login (UserAddOptions.no_password). */
  async userAdd(name: string): Promise<void> {
    await this.unary(
      'Auth/UserAdd',
      encode([
        [1, name],
        [3, encode([[1, true]])],
      ]),
    );
  }

  async userDelete(name: string): Promise<void> {
    await this.unary('Auth/UserDelete', encode([[1, name]]));
  }

  /** The roles the user holds. */
  async userRoles(name: string): Promise<string[]> {
    return read.texts(await this.unary('Auth/UserGet', encode([[1, name]])), 2);
  }

  async userGrantRole(user: string, role: string): Promise<void> {
    await this.unary(
      'Auth/UserGrantRole',
      encode([
        [1, user],
        [2, role],
      ]),
    );
  }

  async userRevokeRole(user: string, role: string): Promise<void> {
    await this.unary(
      'Auth/UserRevokeRole',
      encode([
        [1, user],
        [2, role],
      ]),
    );
  }

  /** Turns authentication on (root and its role must exist); a no-op when it is on. */
  async authEnable(): Promise<void> {
    await this.unary('Auth/AuthEnable', Buffer.alloc(0));
  }

  private async unary(method: string, message: Buffer): Promise<Message> {
    const what = `etcd ${this.endpoint.address}:${this.endpoint.port} ${method}`;
    let session: ClientHttp2Session | undefined;
    try {
      const socket = await tlsOver(await this.open(this.endpoint.address, this.endpoint.port), this.identity, this.endpoint.address, ['h2']);
      session = http2Connect(`https://${this.endpoint.address}:${this.endpoint.port}`, { createConnection: () => socket });
      return decode(await call(session, `/etcdserverpb.${method}`, message));
    } catch (err) {
      if (err instanceof GrpcStatusError) throw err.withWhere(this.endpoint.host, what);
      throw new ClusterApiError(this.endpoint.host, what, (err as Error).message, `check that etcd runs on ${this.endpoint.host} (journalctl -u etcd) and that the local PKI is the cluster's`);
    } finally {
      session?.destroy();
    }
  }
}

/** What a role may do with its keys (authpb.Permission.Type). */
export type EtcdPermission = 'read' | 'write' | 'readwrite';

const PERMISSION_TYPE: Record<EtcdPermission, number> = { read: 0, write: 1, readwrite: 2 };

/**
 * authpb.Permission for the keys under `prefix`, as etcdctl's `role grant-permission --prefix`
 * sends it: the whole keyspace is ["\0", "\0") (etcd reads a range end of "\0" as open-ended), so
 * a grant made by an etcdctl before is the same grant, not a second one.
 */
export function permissionMessage(permission: EtcdPermission, prefix: string): Buffer {
  const key = prefix === '' ? Buffer.from([0]) : Buffer.from(prefix, 'utf8');
  const end = prefix === '' ? Buffer.from([0]) : prefixEnd(key);
  return encode([
    [1, PERMISSION_TYPE[permission]],
    [2, key],
    [3, end],
  ]);
}

/** etcdserverpb.Member. */
function memberOf(m: Message): EtcdMember {
  return {
    id: read.number(m, 1).toString(16),
    started: read.text(m, 2) !== '',
    name: read.text(m, 2),
    peerUrls: read.texts(m, 3),
    clientUrls: read.texts(m, 4),
    isLearner: read.number(m, 5) === 1n,
  };
}

/** etcd's answer with a gRPC status other than OK: etcd's own message (`etcdserver: permission denied`). */
export class GrpcStatusError extends ClusterApiError {
  constructor(
    host: string,
    request: string,
    readonly code: number,
    message: string,
  ) {
    super(host, request, message, "the message is etcd's own; bootstrap health shows the state of every member");
  }

  withWhere(host: string, request: string): GrpcStatusError {
    return new GrpcStatusError(host, request, this.code, this.message);
  }
}

/** The end of a prefix range: the prefix with its last byte that can be raised, raised (etcd's clientv3.GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** One unary gRPC call: the message framed (no compression, 4-byte length), the answer's frame, the status from the trailers. */
function call(session: ClientHttp2Session, path: string, message: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const frame = Buffer.alloc(5);
    frame.writeUInt32BE(message.length, 1);
    const stream = session.request({ [constants.HTTP2_HEADER_METHOD]: 'POST', [constants.HTTP2_HEADER_PATH]: path, 'content-type': 'application/grpc', te: 'trailers' });
    stream.setTimeout(CALL_TIMEOUT_MS, () => stream.close(constants.NGHTTP2_CANCEL));
    const chunks: Buffer[] = [];
    let status: { code: number; message: string } | undefined;
    const statusOf = (headers: Record<string, unknown>) => {
      if (headers['grpc-status'] === undefined) return;
      status = { code: Number(headers['grpc-status']), message: decodeURIComponent(String(headers['grpc-message'] ?? '')) };
    };
    // A call that fails at once answers with headers alone ("trailers-only").
    stream.on('response', statusOf);
    stream.on('trailers', statusOf);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => {
      if (!status) return reject(new Error(stream.rstCode === constants.NGHTTP2_CANCEL ? `no answer within ${CALL_TIMEOUT_MS / 1000} s` : 'the call ended without a gRPC status'));
      if (status.code !== 0) return reject(new GrpcStatusError('', path, status.code, status.message || `gRPC status ${status.code}`));
      const body = Buffer.concat(chunks);
      if (body.length < 5 || body[0] !== 0) return reject(new Error('the answer is not one uncompressed gRPC message'));
      resolve(body.subarray(5, 5 + body.readUInt32BE(1)));
    });
    stream.end(Buffer.concat([frame, message]));
  });
}
