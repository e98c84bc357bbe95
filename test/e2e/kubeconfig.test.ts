import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { copyFileSync, chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { parse } from 'yaml';
import { PKI_PATHS } from '../../src/components/paths.js';
import { bundleFile } from './support/bundle.js';
import { errorsOf, useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/**
 * A kubeconfig for the operator's own machine (issue 26): `bootstrap kubeconfig` issues alice a
 * certificate of her own, `bootstrap tunnel` carries the real kubectl 1.36 (the lab bundle's, run on
 * this machine) to the API server through the master's SSH connection, and RBAC decides what alice
 * may do: nothing until a binding to her group, then list nodes. `certs check` lists her certificate.
 */
const BIN = '/opt/kube/bin';
const adminKubectl = `${BIN}/kubectl --kubeconfig=${PKI_PATHS.adminConf} --request-timeout=10s`;

interface KubectlRun {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!labAvailable())('kubeconfig and tunnel', () => {
  const hosts = useLabHosts(1, { prefix: 'kc' });
  const cluster = useLabCluster(hosts, { layout: () => ['etcd', 'master', 'worker'], properties: { VERIFY_PODS: 'false' } });
  const aliceFile = () => join(cluster.dir, 'alice.kubeconfig');
  let tunnel: ChildProcessWithoutNullStreams | undefined;
  let port = 0;

  /** The real kubectl, on this machine (the controller), as a workstation runs it. */
  function kubectl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<KubectlRun> {
    const binary = join(cluster.dir, 'kubectl');
    return new Promise((resolve) => {
      execFile(binary, ['--request-timeout=15s', ...args], { env: { PATH: process.env.PATH, HOME: cluster.dir, ...env } }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });
  }

  afterAll(async () => {
    if (tunnel && tunnel.exitCode === null) {
      tunnel.kill('SIGTERM');
      await new Promise((resolve) => tunnel!.once('exit', resolve));
    }
  });

  it('init makes the cluster', async () => {
    const { run, report } = await cluster.json('init', ['--yes']);
    expect(run.code, `${run.stderr}\n${errorsOf(report)}`).toBe(0);
    const kubectlFile = join(cluster.dir, 'kubectl');
    copyFileSync(bundleFile(inject('bundleDir')!, 'kubectl').file, kubectlFile);
    chmodSync(kubectlFile, 0o755);
  }, 600_000);

  it('bootstrap tunnel listens on 127.0.0.1 and says where, going through the master', async () => {
    // Its own process, as a user runs it next to kubectl; --port 0: whatever port is free here.
    tunnel = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${join(process.cwd(), 'src/cli/main.ts')}').then((m) => m.main(process.argv.slice(1))).then((code) => { process.exitCode = code; })`,
        'tunnel',
        '-i',
        cluster.inventory,
        '-c',
        cluster.config,
        '--port',
        '0',
        '--output',
        'json',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const stderr: string[] = [];
    tunnel.stderr.on('data', (c: Buffer) => stderr.push(c.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: tunnel!.stdout }).once('line', resolve);
      tunnel!.once('exit', (code) => reject(new Error(`bootstrap tunnel exited ${code}: ${stderr.join('')}`)));
    });
    const announced = JSON.parse(line) as { listening: string; server: string; master: string };
    expect(announced.master).toBe(hosts.host(0).name);
    expect(announced.listening).toMatch(/^127\.0\.0\.1:\d+$/);
    port = Number(announced.listening.split(':')[1]);
    expect(announced.server).toBe(`https://127.0.0.1:${port}`);
  }, 120_000);

  it('bootstrap kubeconfig --user alice --group dev writes her own credential, pointing at the tunnel', async () => {
    const run = await cluster.cli(['kubeconfig', '--user', 'alice', '--group', 'dev', '--tunnel-port', String(port), '--out', aliceFile()]);
    expect(run.code, run.stderr).toBe(0);
    expect(statSync(aliceFile()).mode & 0o777).toBe(0o600);
    expect(run.stdout + run.stderr).not.toContain('PRIVATE KEY');
    const k = parse(readFileSync(aliceFile(), 'utf8')) as { clusters: Array<{ cluster: { server: string } }>; 'current-context': string };
    expect(k.clusters[0]!.cluster.server).toBe(`https://127.0.0.1:${port}`);
    expect(k['current-context']).toBe(`alice@${hosts.lab.name}`);
  });

  it('the API server knows her as alice in dev; without a binding RBAC refuses her', async () => {
    const whoami = await kubectl(['--kubeconfig', aliceFile(), 'auth', 'whoami', '-o', 'json']);
    expect(whoami.code, whoami.stderr).toBe(0);
    const user = (JSON.parse(whoami.stdout) as { status: { userInfo: { username: string; groups: string[] } } }).status.userInfo;
    expect(user.username).toBe('alice');
    expect(user.groups).toEqual(expect.arrayContaining(['dev', 'system:authenticated']));
    expect(user.groups).not.toContain('system:masters');
    const refused = await kubectl(['--kubeconfig', aliceFile(), 'get', 'nodes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('Error from server (Forbidden): nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope\n');
  });

  it('with a binding to her group, made with the admin credential, she lists nodes through the tunnel', async () => {
    await hosts.run(0, `${adminKubectl} create clusterrole node-reader --verb=get,list,watch --resource=nodes`);
    await hosts.run(0, `${adminKubectl} create clusterrolebinding dev-node-reader --clusterrole=node-reader --group=dev`);
    // The API server's RBAC picks up a new binding within moments, as upstream's informers do.
    let listed: KubectlRun | undefined;
    await vi.waitFor(
      async () => {
        listed = await kubectl(['--kubeconfig', aliceFile(), 'get', 'nodes', '-o', 'name']);
        expect(listed.code, listed.stderr).toBe(0);
      },
      { timeout: 60_000, interval: 1000 },
    );
    expect(listed!.stdout).toBe(`node/${hosts.host(0).name}\n`);
    // Only what the binding gives: not Secrets.
    const secrets = await kubectl(['--kubeconfig', aliceFile(), 'get', 'secrets', '-n', 'kube-system']);
    expect(secrets.stderr).toContain('User "alice" cannot list resource "secrets"');
  }, 120_000);

  it('certs check lists her certificate with its groups and days', async () => {
    const run = await cluster.cli(['certs', 'check', '--output', 'json']);
    const report = JSON.parse(run.stdout) as { local: Array<{ name: string; subject?: string; daysLeft?: number; problems: string[] }> };
    const alice = report.local.find((r) => r.name === 'users/alice');
    expect(alice).toMatchObject({ subject: 'O=dev, CN=alice', problems: [] });
    expect(alice!.daysLeft).toBeGreaterThanOrEqual(363);
    const text = await cluster.cli(['certs', 'check']);
    expect(text.stdout).toMatch(/users\/alice +O=dev, CN=alice +CN=kubernetes/);
  }, 120_000);

  it('--merge puts her into the KUBECONFIG a kubectl user already has, and kubectl uses it as the current context', async () => {
    const file = join(cluster.dir, 'home-config');
    const other = await kubectl(['config', 'set-cluster', 'elsewhere', '--server=https://192.0.2.1:6443'], { KUBECONFIG: file });
    expect(other.code, other.stderr).toBe(0);
    vi.stubEnv('KUBECONFIG', file);
    try {
      const run = await cluster.cli(['kubeconfig', '--user', 'alice', '--group', 'dev', '--tunnel-port', String(port), '--merge']);
      expect(run.code, run.stderr).toBe(0);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const clusters = await kubectl(['config', 'get-clusters'], { KUBECONFIG: file });
    expect(clusters.stdout.split('\n').filter(Boolean).sort()).toEqual(['NAME', 'elsewhere', hosts.lab.name].sort());
    const nodes = await kubectl(['get', 'nodes', '-o', 'name'], { KUBECONFIG: file });
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(nodes.stdout).toBe(`node/${hosts.host(0).name}\n`);
  }, 120_000);

  it('the tunnel stops on SIGTERM, cleanly', async () => {
    tunnel!.kill('SIGTERM');
    const code = await new Promise((resolve) => tunnel!.once('exit', resolve));
    expect(code).toBe(0);
    const after = await kubectl(['--kubeconfig', aliceFile(), 'get', 'nodes']);
    expect(after.stderr).toContain(`The connection to the server 127.0.0.1:${port} was refused`);
  }, 60_000);
});
