import { describe, expect, it } from 'vitest';
import { permissionMessage, prefixEnd } from '../../src/cluster-api/etcd-api.js';
import { decode, encode, read } from '../../src/cluster-api/protobuf.js';

const hex = (b: Buffer) => b.toString('hex');

/** Expected bytes from the wire format (https://protobuf.dev/programming-guides/encoding/), not from encode itself. */
describe('protobuf encoding of the requests sent to etcd', () => {
  it('varints: field 1 = 150 is 08 96 01, a uint64 member ID takes its ten bytes', () => {
    expect(hex(encode([[1, 150]]))).toBe('089601');
    // MemberRemoveRequest{ID: 0xffffffffffffffff}: 9 bytes of 7 bits and a last 1.
    expect(hex(encode([[1, 0xffffffffffffffffn]]))).toBe('08ffffffffffffffffff01');
    expect(read.number(decode(encode([[1, 0x8e9e05c52164694dn]])), 1).toString(16)).toBe('8e9e05c52164694d');
  });

  it('text and bytes are length-delimited; a repeated field is its number again; false is left out, true is 1', () => {
    // MemberAddRequest{peerURLs: ["https://a:2380", "https://b:2380"]}
    const add = encode([
      [1, 'https://a:2380'],
      [1, 'https://b:2380'],
    ]);
    expect(hex(add)).toBe(`0a0e${hex(Buffer.from('https://a:2380'))}0a0e${hex(Buffer.from('https://b:2380'))}`);
    expect(read.texts(decode(add), 1)).toEqual(['https://a:2380', 'https://b:2380']);
    expect(hex(encode([[2, false]]))).toBe('');
    expect(hex(encode([[1, true]]))).toBe('0801');
  });

  it('a nested message is its bytes: AuthUserAddRequest with options.no_password', () => {
    // name = 1 "root", options = 3 { no_password = 1 true }
    expect(
      hex(
        encode([
          [1, 'root'],
          [3, encode([[1, true]])],
        ]),
      ),
    ).toBe(`0a04${hex(Buffer.from('root'))}1a020801`);
  });

  it("a role's grant on a prefix is authpb.Permission as etcdctl --prefix sends it; the whole keyspace is [\\0, \\0)", () => {
    const flannel = decode(permissionMessage('readwrite', '/coreos.com/network/'));
    expect([read.number(flannel, 1), read.text(flannel, 2), read.text(flannel, 3)]).toEqual([2n, '/coreos.com/network/', '/coreos.com/network0']);
    expect(hex(permissionMessage('read', ''))).toBe('0800120100' + '1a0100');
    expect(hex(prefixEnd(Buffer.from([0x61, 0xff])))).toBe('62');
  });

  it('answers decode field by field; a truncated one is refused', () => {
    // MemberListResponse{members: [{ID: 1, name: "n1", peerURLs: ["p"], isLearner: true}]}
    const member = encode([
      [1, 1],
      [2, 'n1'],
      [3, 'p'],
      [5, true],
    ]);
    const list = decode(encode([[2, member]]));
    const [m] = read.messages(list, 2);
    expect([read.number(m!, 1), read.text(m!, 2), read.texts(m!, 3), read.number(m!, 5)]).toEqual([1n, 'n1', ['p'], 1n]);
    expect(() => decode(Buffer.from('0a05ab', 'hex'))).toThrow('truncated');
  });
});
