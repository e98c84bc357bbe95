import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tunnelCommand } from '../../src/cli/commands/tunnel.js';
import { clientKeyFile, keyPair } from '../ssh/support/fixtures.js';
import { startTestServer, type TestServer } from '../ssh/support/test-server.js';
import { sink } from '../support/cli.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

/**
 * `bootstrap tunnel` as a command, over a real SSH server in this process standing in for the
 * masters' sshd, and a local echo server standing in for the API server port it forwards to (the
 * e2e test, test/e2e/kubeconfig.test.ts, runs kubectl through it against a lab cluster).
 */
let ssh: TestServer | undefined;
let api: Server | undefined;
afterEach(async () => {
  await ssh?.stop();
  await new Promise((resolve) => (api ? api.close(resolve) : resolve(undefined)));
  ssh = api = undefined;
});

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('bootstrap tunnel', () => {
  const tmp = useTempDir();

  it('goes through the first master that answers, says where it listens, carries bytes to the API server port and stops when told', async () => {
    const key = await clientKeyFile(tmp());
    ssh = await startTestServer({ hostKeys: [keyPair('ed25519').private], users: { root: { publicKey: key.pair.public } } });
    api = createServer((s) => s.pipe(s));
    const apiPort = await listening(api);
    const nobody = createServer();
    const deadPort = await listening(nobody);
    await new Promise((resolve) => nobody.close(resolve));
    // m1's sshd is gone; m2 answers. Both "masters" are this machine, on two ports.
    const inventory = `cluster: lab
ssh: { user: root, keyFile: ${key.file} }
hosts:
  - { name: m1, address: 127.0.0.1, internalAddress: 10.0.0.11, roles: [etcd, master, worker], ssh: { port: ${deadPort} } }
  - { name: m2, address: 127.0.0.1, internalAddress: 10.0.0.12, roles: [master, worker], ssh: { port: ${ssh.port} } }
`;
    clusterFrom(tmp(), `KUBE_APISERVER_PORT=${apiPort}\n`, inventory);
    const out: string[] = [];
    const err: string[] = [];
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const command = tunnelCommand({ stdout: sink(out), stderr: sink(err) }, () => stopped);
    const running = command.parseAsync(['-i', join(tmp(), 'inventory.yaml'), '-c', join(tmp(), 'config.properties'), '--port', '0', '--accept-new-host-keys', '--no-ssh-config', '--output', 'json'], {
      from: 'user',
    });
    await expect.poll(() => out.join(''), { timeout: 30_000 }).toContain('\n');
    const announced = JSON.parse(out.join('')) as { listening: string; server: string; master: string; apiserver: string };
    expect(announced).toMatchObject({ master: 'm2', apiserver: `127.0.0.1:${apiPort}` });
    expect(err.join('')).toContain('m1: cannot reach its API server: m1 [connect]');

    const port = Number(announced.listening.split(':')[1]);
    const s = connect(port, '127.0.0.1');
    s.end('through the tunnel');
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('through the tunnel');
    // The check before listening, then this connection: two channels, one SSH connection.
    expect([ssh.connections, ssh.tunnels]).toEqual([1, 2]);

    stop();
    await running;
    const refused = connect(port, '127.0.0.1');
    await expect(new Promise((resolve, reject) => refused.once('connect', resolve).once('error', reject))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  }, 60_000);
});
