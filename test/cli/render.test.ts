import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_KUBE_MINORS } from '../../src/upstream/index.js';
import { runCli } from '../support/cli.js';
import { expectFitsSchemaFile } from '../support/report-schemas.js';
import { useTempDir, writeTree } from '../support/tmp.js';

describe('bootstrap CLI', () => {
  const tmp = useTempDir();

  it('lists only commands that work', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    const commands = run.stdout
      .split('Commands:')[1]!
      .split('\n')
      .filter((l) => /^ {2}\S/.test(l))
      .map((l) => l.trim().split(/\s+/)[0]);
    expect(commands).toEqual(['init', 'render', 'plan', 'apply', 'health', 'certs', 'reset', 'etcd', 'kubeconfig', 'tunnel', 'bundle', 'import', 'help']);
  });

  it('renders the example inventory into OUT/<host>/<path> with a summary table', async () => {
    const out = join(tmp(), 'target');
    const run = await runCli(['render', '-i', 'inventory/single-master.yaml', '-c', 'config.example.properties', '--out', out]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^HOST\s+FILE\s+MODE\s+BYTES$/m);
    expect(run.stdout).toMatch(/^master1\s+\/etc\/systemd\/system\/kube-apiserver\.service\s+0644\s+\d+$/m);
    expect(run.stdout).toContain(`37 files written to ${out}/`);
    expect(readFileSync(join(out, 'worker2/etc/docker/daemon.json'), 'utf8')).toContain('"data-root": "/data/docker"');
    expect(readFileSync(join(out, 'master1/etc/systemd/system/etcd.service'), 'utf8')).toContain('--name=master1');
  });

  it('renders the HA example', async () => {
    const run = await runCli(['render', '-i', 'inventory/ha.yaml', '-c', 'config.example.properties', '--out', join(tmp(), 'ha')]);
    expect(run.code).toBe(0);
    expect(readFileSync(join(tmp(), 'ha/master3/etc/systemd/system/etcd.service'), 'utf8')).toContain('--initial-advertise-peer-urls=https://10.10.0.13:2380');
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

  it.each(SUPPORTED_KUBE_MINORS.map((m) => `v1.${m}.3`))('renders the example inventory for KUBE_VERSION=%s', async (version) => {
    const config = join(tmp(), 'c.properties');
    writeFileSync(config, `${readFileSync('config.example.properties', 'utf8')}\nKUBE_VERSION=${version}\n`.replace(/^KUBE_VERSION=v1\.36\.0$/m, ''));
    const run = await runCli(['render', '-i', 'inventory/single-master.yaml', '-c', config, '--out', join(tmp(), 'out')]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it.each(['v1.30.14', 'v1.29.0'])('refuses KUBE_VERSION=%s naming the key and the supported range', async (version) => {
    const config = join(tmp(), 'old.properties');
    writeFileSync(config, `KUBE_VERSION=${version}\n`);
    const run = await runCli(['render', '-i', 'inventory/single-master.yaml', '-c', config, '--out', join(tmp(), 'never')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${config}:1 KUBE_VERSION: Kubernetes ${version} is not supported: kubestrap supports v1.31.x to v1.37.x`);
    expect(run.stderr).toContain('fix: set KUBE_VERSION to a version from v1.31.x to v1.37.x, e.g. v1.36.0');
  });

  it('asks for -i or --templates when given neither', async () => {
    const run = await runCli(['render', '-c', 'config.example.properties']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('render needs -i INVENTORY');
  });

  it('reports files an earlier render left behind, and removes them with --clean', async () => {
    const dir = tmp();
    writeTree(dir, { 'tpl/a/one': '{{X}}\n', 'tpl/b/two': 'two\n', 'config.properties': 'X=1\n' });
    const args = ['render', '--templates', join(dir, 'tpl'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'out')];
    expect((await runCli(args)).code).toBe(0);
    rmSync(join(dir, 'tpl/b'), { recursive: true });
    writeTree(dir, { 'out/mine.txt': 'a file of my own' });
    const second = await runCli(args);
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('also holds 1 file(s) an earlier render wrote and this one did not: b/two');
    expect(second.stderr).toContain('also holds 1 file(s) no render wrote (left alone, also by --clean): mine.txt');
    expect(existsSync(join(dir, 'out/b/two'))).toBe(true);
    const clean = await runCli([...args, '--clean']);
    expect(clean.stderr).not.toContain('an earlier render wrote');
    expect(existsSync(join(dir, 'out/b'))).toBe(false);
    expect(readFileSync(join(dir, 'out/mine.txt'), 'utf8')).toBe('a file of my own');
    expect(readFileSync(join(dir, 'out/a/one'), 'utf8')).toBe('1\n');
  });

  it('--output json: each file written per host, and in gen-config.sh mode what else the folder holds, as schemas/render.schema.json says', async () => {
    const out = join(tmp(), 'target');
    const hosts = await runCli(['render', '-i', 'inventory/single-master.yaml', '-c', 'config.example.properties', '--out', out, '--output', 'json']);
    expect(hosts.code, hosts.stderr).toBe(0);
    expectFitsSchemaFile('render', hosts.stdout);
    const report = JSON.parse(hosts.stdout) as { written: number; files: Array<{ host: string; path: string; mode: string }> };
    expect(report.written).toBe(37);
    expect(report.files).toContainEqual(expect.objectContaining({ host: 'master1', path: '/etc/systemd/system/kube-apiserver.service', mode: '0644' }));

    const dir = tmp();
    writeTree(dir, { 'tpl/a/one': '{{X}}\n', 'config.properties': 'X=1\n', 'out/mine.txt': 'mine' });
    const compat = await runCli(['render', '--templates', join(dir, 'tpl'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'out'), '--output', 'json']);
    expect(compat.code, compat.stderr).toBe(0);
    expectFitsSchemaFile('render', compat.stdout);
    expect(JSON.parse(compat.stdout)).toMatchObject({ ok: true, written: 1, files: [{ host: null, path: 'a/one', bytes: 2 }], stale: [], foreign: ['mine.txt'] });
    expect(compat.stderr).toContain('no render wrote (left alone, also by --clean): mine.txt');
  });

  it('--clean refuses a folder no render made, deleting nothing (--out /home --clean removed every home)', async () => {
    const dir = tmp();
    writeTree(dir, { 'tpl/a/one': 'x\n', 'config.properties': 'X=1\n', 'homes/alice/.bashrc': 'alias ll=ls\n', 'homes/bob/notes': 'n\n' });
    const run = await runCli(['render', '--templates', join(dir, 'tpl'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'homes'), '--clean']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: ${join(dir, 'homes')}: --clean removes only what an earlier render wrote, and this folder holds files but no .kubestrap-render`);
    expect(readdirSync(join(dir, 'homes')).sort()).toEqual(['alice', 'bob']);
    expect(readFileSync(join(dir, 'homes/alice/.bashrc'), 'utf8')).toBe('alias ll=ls\n');
    // A forged marker cannot point --clean outside the folder.
    writeTree(dir, { 'out/.kubestrap-render': JSON.stringify({ files: ['../homes/bob/notes', '/etc/hostname', 'a/../../homes/alice/.bashrc'] }) });
    const forged = await runCli(['render', '--templates', join(dir, 'tpl'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'out'), '--clean']);
    expect(forged.code).toBe(0);
    expect(existsSync(join(dir, 'homes/bob/notes'))).toBe(true);
    expect(existsSync(join(dir, 'homes/alice/.bashrc'))).toBe(true);
  });

  it('never writes through a symbolic link planted in the output folder', async () => {
    const dir = tmp();
    writeTree(dir, { 'tpl/a/one': 'rendered\n', 'tpl/b/two': 'rendered\n', 'config.properties': 'X=1\n', 'victim/file': 'precious\n', 'out/x': '' });
    symlinkSync(join(dir, 'victim/file'), join(dir, 'out/a-link'));
    mkdirSync(join(dir, 'out/a'));
    symlinkSync(join(dir, 'victim/file'), join(dir, 'out/a/one'));
    const args = ['render', '--templates', join(dir, 'tpl'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'out')];
    expect((await runCli(args)).code).toBe(0);
    // The link itself was replaced by a fresh file; its target is untouched.
    expect(readFileSync(join(dir, 'victim/file'), 'utf8')).toBe('precious\n');
    expect(lstatSync(join(dir, 'out/a/one')).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(dir, 'out/a/one'), 'utf8')).toBe('rendered\n');
    // A linked folder is refused, nothing is written into its target.
    rmSync(join(dir, 'out/b'), { recursive: true });
    symlinkSync(join(dir, 'victim'), join(dir, 'out/b'));
    const linked = await runCli(args);
    expect(linked.code).toBe(2);
    expect(linked.stderr).toContain(`${join(dir, 'out/b')} is a symbolic link; render writes only into real folders`);
    expect(readdirSync(join(dir, 'victim'))).toEqual(['file']);
    // So is a linked output folder.
    symlinkSync(join(dir, 'victim'), join(dir, 'out2'));
    const root = await runCli([...args.slice(0, -1), join(dir, 'out2')]);
    expect(root.code).toBe(2);
    expect(readdirSync(join(dir, 'victim'))).toEqual(['file']);
  });

  it('refuses to write into the current folder or /', async () => {
    const dir = tmp();
    writeTree(dir, { 'tpl/a/one': 'x\n', 'config.properties': 'X=1\n' });
    const run = await runCli(['render', '--templates', join(dir, 'tpl'), '--config', join(dir, 'config.properties'), '--out', '/']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('refusing to write the rendered tree here');
  });
});
