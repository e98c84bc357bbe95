import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderCluster } from '../../src/render/render-cluster.js';
import { readTemplateTree } from '../../src/render/template-tree.js';
import { runCli } from '../support/cli.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir, writeTree } from '../support/tmp.js';

describe('template tree', () => {
  const tmp = useTempDir();

  it('refuses a template whose name holds a newline (it would become a command line of the install script)', () => {
    const tpl = join(tmp(), 'tpl');
    writeTree(tpl, { 'all/etc/ok.conf': 'a\n', 'all/etc/x\ntouch \x1b[2J pwned': 'b\n' });
    const tree = readTemplateTree(tpl);
    expect(tree.files.map((f) => f.rel)).toEqual(['all/etc/ok.conf']);
    expect(tree.problems.map((p) => p.format())).toEqual([
      'all/etc/x\\x0atouch \\x1b[2J pwned: the name holds a control character, \\x0a (newline)\n  fix: rename the file or folder: paths on hosts are printable text',
    ]);
    const { hosts, problems } = renderCluster(clusterFrom(tmp(), ''), tpl);
    expect(hosts).toEqual([]);
    expect(problems).toHaveLength(1);
  });

  it("refuses a link that leads out of the tree (it would copy this machine's files onto every host), and follows one inside", () => {
    const dir = tmp();
    writeTree(dir, { 'secret/id_ed25519': 'PRIVATE KEY\n', 'tpl/all/etc/real.conf': 'real\n' });
    mkdirSync(join(dir, 'tpl/all/etc/ssh'));
    symlinkSync(join(dir, 'secret/id_ed25519'), join(dir, 'tpl/all/etc/ssh/key'));
    symlinkSync('../real.conf', join(dir, 'tpl/all/etc/ssh/alias.conf'));
    symlinkSync(join(dir, 'tpl/all'), join(dir, 'tpl/all/loop'));
    const tree = readTemplateTree(join(dir, 'tpl'));
    expect(tree.files.map((f) => f.rel)).toEqual(['all/etc/real.conf', 'all/etc/ssh/alias.conf']);
    expect(tree.problems.map((p) => `${p.file}: ${p.message}`).sort()).toEqual([
      `all/etc/ssh/key: is a symbolic link to ${join(dir, 'secret/id_ed25519')}, outside the template tree`,
      `all/loop: links back to ${join(dir, 'tpl/all')}, which the tree already holds (a loop)`,
    ]);
  });

  it('render (gen-config.sh mode) exits 2 and writes nothing for such a tree', async () => {
    const dir = tmp();
    writeTree(dir, { 'tpl/a\rb': 'x\n', 'config.properties': 'X=1\n' });
    writeFileSync(join(dir, 'tpl/ok'), '{{X}}\n');
    const run = await runCli(['render', '--templates', join(dir, 'tpl'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'out')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('a\\x0db: the name holds a control character, \\x0d (carriage return)');
    expect(run.stderr).not.toContain('\r');
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});

describe('template includes', () => {
  const tmp = useTempDir();

  it("cannot reach a file outside the tree, even one whose folder name starts like the tree's", () => {
    const dir = tmp();
    writeTree(dir, {
      'units-private/key': 'PRIVATE KEY\n',
      'units/_partials/ok.conf': 'shared\n',
      'units/all/etc/a.conf': '{% include "_partials/ok.conf" %}',
      'units/all/etc/b.conf': '{% include "_partials/../../units-private/key" %}',
    });
    const { hosts, problems } = renderCluster(clusterFrom(tmp(), ''), join(dir, 'units'));
    expect(hosts).toEqual([]);
    expect(problems.map((p) => p.format()).join('\n')).toContain('all/etc/b.conf');
    expect(problems.map((p) => p.format()).join('\n')).toContain('is outside the template tree');
    expect(problems.map((p) => p.format()).join('\n')).not.toContain('PRIVATE');
  });
});
