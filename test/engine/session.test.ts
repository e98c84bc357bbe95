import { describe, expect, it } from 'vitest';
import { ClusterSession } from '../../src/engine/session.js';
import type { TargetHost } from '../../src/engine/target.js';
import { SshError } from '../../src/errors.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import type { SshTarget } from '../../src/ssh/target.js';

const hosts: TargetHost[] = ['n1', 'n2', 'n3'].map((name, i) => {
  const ssh: SshTarget = { name, address: `10.0.0.${i + 1}`, port: 22, user: 'root', auth: {} };
  return { name, address: ssh.address, ssh };
});

function remote(name: string): RemoteHost {
  const none = async () => ({ code: 0, stdout: '', stderr: '' });
  return { name, stats: { handshakes: 1, execs: 0, sftpOps: 0 }, run: none, runWithInput: none, runToOutput: none, putFile: async () => ({ written: true }), close: async () => undefined };
}

/** A session whose handshakes are counted per host; `down` hosts refuse theirs. */
function countingSession(concurrency: number, down: string[] = []) {
  const handshakes: string[] = [];
  const session = new ClusterSession(hosts, {
    concurrency,
    connect: async (target) => {
      handshakes.push(target.name);
      if (down.includes(target.name)) throw new SshError(target.name, 'connect', 'connection refused');
      return remote(target.name);
    },
  });
  return { session, handshakes };
}

describe('ClusterSession.connectEarly', () => {
  it('starts the first hosts’ handshakes at once, and connect takes them: still one handshake per host', async () => {
    const { session, handshakes } = countingSession(2);
    session.connectEarly();
    expect(handshakes).toEqual(['n1', 'n2']);
    const { open, lost } = await session.connect();
    expect(open.map((o) => o.host.name)).toEqual(['n1', 'n2', 'n3']);
    expect(lost).toEqual([]);
    expect(handshakes.sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('a failed early handshake is that host’s connect failure, not tried a second time', async () => {
    const { session, handshakes } = countingSession(3, ['n2']);
    session.connectEarly();
    const { open, lost } = await session.connect();
    expect(open.map((o) => o.host.name)).toEqual(['n1', 'n3']);
    expect(lost.map((l) => [l.host.name, l.status])).toEqual([['n2', 'unreachable']]);
    expect(handshakes.filter((h) => h === 'n2')).toHaveLength(1);
  });
});
