import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RENDER_MARKER } from '../../src/render/output-tree.js';
import { runCli } from '../support/cli.js';
import { skipUnlessAvailable } from '../support/prerequisites.js';
import { extractGenConfigScript, SEED_WITH_GEN_CONFIG } from '../support/seeds.js';
import { useTempDir, writeTree } from '../support/tmp.js';

const genConfig = extractGenConfigScript();
const skip = skipUnlessAvailable(genConfig !== undefined, `the seed with gen-config.sh (${SEED_WITH_GEN_CONFIG})`);

/** Values with everything sed's replacement and bash's read leave alone: no "&", no "\". */
const PROPERTIES = `# kubernetes-starter style properties
BIN_PATH=/home/michael/bin

  # an indented comment
NODE_IP=192.168.1.102
MASTER_IP=192.168.1.101
ETCD_ENDPOINTS=http://192.168.1.101:2379,http://192.168.1.102:2379
   INDENTED_KEY=indented
SPACED= leading blank kept
OPTS=--a=1 --b="two words" 'single' $HOME * . | ^ % @ # ~
EMPTY=
UNICODE=节点-ü
SERVICE_CIDR=10.68.0.0/16
etcd.name=java-style
my-key=dashed
LAST=no trailing blank
`;

/** Files in sub-folders, as kubernetes-starter's kubernetes-simple/ has them, with awkward content. */
const TEMPLATES: Record<string, string | Buffer> = {
  'master-node/etcd.service':
    '[Service]\nExecStart={{BIN_PATH}}/etcd --name={{NODE_IP}} --urls=http://{{NODE_IP}}:2379,http://{{MASTER_IP}}:2379\n' +
    'Adjacent={{NODE_IP}}{{MASTER_IP}} Triple={{{NODE_IP}}} Empty=[{{EMPTY}}] Spaced=[{{SPACED}}]\n',
  'master-node/scripts/check.sh': '#!/bin/bash\nARR=(a b)\necho ${#ARR[@]} $((1+2)) {% raw %} {# not a comment #} {{ spaced }} {{.Go}} {{ "{{" }}\n' + 'echo "{{OPTS}}" {{INDENTED_KEY}} {{LAST}}\n',
  'master-node/deep/er/than/that.conf': 'endpoints={{ETCD_ENDPOINTS}}\ncidr={{SERVICE_CIDR}}\nname={{etcd.name}} {{my-key}}\n',
  'worker-node/daemon.json': '{\n  "registry": {"mirrors": {}},\n  "node": "{{NODE_IP}}",\n  "nested": {"a": {"b": {}}}\n}\n',
  'worker-node/no-newline.conf': 'bin={{BIN_PATH}}',
  'worker-node/empty.conf': '',
  'worker-node/unicode.conf': '# 主节点 {{MASTER_IP}} {{UNICODE}}\n',
  'worker-node/crlf.conf': 'a={{NODE_IP}}\r\nb=plain\r\n',
  'worker-node/latin1.bin': Buffer.from([0x00, 0xff, 0xe9, 0x0a, ...Buffer.from('ip={{NODE_IP}}\n'), 0xc3, 0x28, 0x0a]),
};

interface TreeEntry {
  kind: 'dir' | 'file';
  mode: number;
  content?: string;
}

function snapshot(root: string): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const stat = statSync(full);
      const rel = relative(root, full);
      if (stat.isDirectory()) {
        out[rel] = { kind: 'dir', mode: stat.mode & 0o777 };
        walk(full);
      } else {
        out[rel] = { kind: 'file', mode: stat.mode & 0o777, content: readFileSync(full).toString('base64') };
      }
    }
  };
  walk(root);
  return out;
}

describe.skipIf(skip)('gen-config.sh compatibility', () => {
  const tmp = useTempDir();

  function workspace(templates: Record<string, string | Buffer>, properties: string): string {
    const dir = tmp();
    writeTree(join(dir, 'kubernetes-simple'), templates);
    mkdirSync(join(dir, 'kubernetes-simple', 'empty-dir'), { recursive: true });
    const script = join(dir, 'kubernetes-simple', 'master-node/scripts/check.sh');
    if (existsSync(script)) chmodSync(script, 0o755);
    writeFileSync(join(dir, 'config.properties'), properties);
    writeFileSync(join(dir, 'gen-config.sh'), genConfig!);
    return dir;
  }

  function runGenConfig(dir: string): void {
    // C locale: sed must treat the template bytes as bytes, as ours does.
    execFileSync('bash', ['gen-config.sh', 'simple'], { cwd: dir, env: { ...process.env, LC_ALL: 'C' }, stdio: 'pipe' });
  }

  it('writes the same tree as the real gen-config.sh, byte for byte and mode for mode', async () => {
    const dir = workspace(TEMPLATES, PROPERTIES);
    runGenConfig(dir);
    const run = await runCli(['render', '--templates', join(dir, 'kubernetes-simple'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'ours')]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);

    const theirs = snapshot(join(dir, 'target'));
    // Besides gen-config.sh's tree, ours holds the list of what it wrote, so --clean removes only that.
    const { [RENDER_MARKER]: marker, ...ours } = snapshot(join(dir, 'ours'));
    expect(marker?.kind).toBe('file');
    expect(Object.keys(ours)).toEqual(Object.keys(theirs));
    expect(ours).toEqual(theirs);
    // Guard against a vacuous pass: the substitution really happened.
    expect(readFileSync(join(dir, 'ours/master-node/etcd.service'), 'utf8')).toContain('ExecStart=/home/michael/bin/etcd --name=192.168.1.102');
    expect(theirs['empty-dir']?.kind).toBe('dir');
  });

  it('exits non-zero listing every unreplaced placeholder with file:line and key, and writes nothing', async () => {
    const templates = {
      ...TEMPLATES,
      'master-node/apiserver.service': 'ExecStart={{BIN_PATH}}/kube-apiserver \\\n  --etcd-servers={{ETCD_SERVERS}} \\\n  --x={{NOT_SET}}\n',
      'worker-node/kubelet.service': '\n\n--node-ip={{NODE_IPP}}\n',
    };
    const dir = workspace(templates, PROPERTIES);
    runGenConfig(dir);
    // gen-config.sh "succeeds" and leaves the placeholder in place: the trap the seed's author fell into.
    expect(readFileSync(join(dir, 'target/master-node/apiserver.service'), 'utf8')).toContain('{{ETCD_SERVERS}}');

    const run = await runCli(['render', '--templates', join(dir, 'kubernetes-simple'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'ours')]);
    expect(run.code).not.toBe(0);
    const where = run.stderr
      .split('\n')
      .filter((l) => /^(error: )?master-node|^worker-node/.test(l))
      .map((l) => l.replace(/^error: /, '').split(': ')[0]);
    expect(where).toEqual(['master-node/apiserver.service:2 ETCD_SERVERS', 'master-node/apiserver.service:3 NOT_SET', 'worker-node/kubelet.service:3 NODE_IPP']);
    expect(existsSync(join(dir, 'ours'))).toBe(false);
  });

  it('substitutes values with "/", "&" and "\\" literally (where gen-config.sh mangles them)', async () => {
    const dir = workspace({ 'a/x.conf': 'v={{V}}\n' }, 'V=a/b&c\\d\\\\e\n');
    const run = await runCli(['render', '--templates', join(dir, 'kubernetes-simple'), '--config', join(dir, 'config.properties'), '--out', join(dir, 'ours')]);
    expect(run.code).toBe(0);
    expect(readFileSync(join(dir, 'ours/a/x.conf'), 'utf8')).toBe('v=a/b&c\\d\\\\e\n');
  });
});
