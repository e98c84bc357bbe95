import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useTempDir, writeTree } from '../support/tmp.js';

describe('bootstrap CLI', () => {
  const tmp = useTempDir();

  it('lists only commands that work', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    const commands = run.stdout.split('Commands:')[1]!.split('\n').filter((l) => /^  \S/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
    expect(commands).toEqual(['render', 'plan', 'apply', 'help']);
  });

  it('renders the example inventory into OUT/<host>/<path> with a summary table', async () => {
    const out = join(tmp(), 'target');
    const run = await runCli(['render', '-i', 'inventory/single-master.yaml', '-c', 'config.example.properties', '--out', out]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^HOST\s+FILE\s+MODE\s+BYTES$/m);
    expect(run.stdout).toMatch(/^master1\s+\/etc\/systemd\/system\/kube-apiserver\.service\s+0644\s+\d+$/m);
    expect(run.stdout).toContain(`35 files written to ${out}/`);
    expect(readFileSync(join(out, 'worker2/etc/docker/daemon.json'), 'utf8')).toContain('"data-root": "/data/docker"');
    expect(readFileSync(join(out, 'master1/etc/systemd/system/etcd.service'), 'utf8')).toContain('--name=master1');
  });

  it('renders the HA example', async () => {
    const run = await runCli(['render', '-i', 'inventory/ha.yaml', '-c', 'config.example.properties', '--out', join(tmp(), 'ha')]);
    expect(run.code).toBe(0);
    expect(readFileSync(join(tmp(), 'ha/master3/etc/systemd/system/etcd.service'), 'utf8')).toContain(
      '--initial-cluster=master1=https://10.10.0.11:2380,master2=https://10.10.0.12:2380,master3=https://10.10.0.13:2380',
    );
  });

  it('exits 2 with every problem and writes nothing on bad input', async () => {
    const config = join(tmp(), 'bad.properties');
    writeFileSync(config, 'SERVICE_CIDR=10.68.0.0/16\nCLUSTER_DNS_SVC_IP=10.99.0.2\nFLANNEL_BACKNED=vxlan\nKUBE_VERSION=1.18.0\n');
    const out = join(tmp(), 'never');
    const run = await runCli(['render', '-i', 'inventory/single-master.yaml', '-c', config, '--out', out]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${config}:2 CLUSTER_DNS_SVC_IP: 10.99.0.2 is outside SERVICE_CIDR 10.68.0.0/16`);
    expect(run.stderr).toContain(`${config}:4 KUBE_VERSION: Kubernetes v1.18.0 is not supported`);
    expect(run.stderr).toContain(`warning: ${config}:3 FLANNEL_BACKNED`);
    expect(run.stderr).toContain('nothing was changed');
    expect(existsSync(out)).toBe(false);
  });

  it('asks for -i or --templates when given neither', async () => {
    const run = await runCli(['render', '-c', 'config.example.properties']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('render needs -i INVENTORY');
  });

  it('reports files an earlier render left behind, and removes them with --clean', async () => {
    const dir = tmp();
    writeTree(dir, { 'tpl/a/one': '{{X}}\n', 'config.properties': 'X=1\n', 'out/a/old': 'stale' });
    const args = ['render', '--templates', join(dir, 'tpl'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'out')];
    const first = await runCli(args);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('also holds 1 file(s) this render did not produce');
    expect(existsSync(join(dir, 'out/a/old'))).toBe(true);
    const clean = await runCli([...args, '--clean']);
    expect(clean.stderr).toBe('');
    expect(existsSync(join(dir, 'out/a/old'))).toBe(false);
    expect(readFileSync(join(dir, 'out/a/one'), 'utf8')).toBe('1\n');
  });

  it('refuses to write into the current folder or /', async () => {
    const dir = tmp();
    writeTree(dir, { 'tpl/a/one': 'x\n', 'config.properties': 'X=1\n' });
    const run = await runCli(['render', '--templates', join(dir, 'tpl'), '--config', join(dir, 'config.properties'), '--out', '/']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('refusing to write the rendered tree here');
  });
});
