import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KubeconfigError } from '../../src/errors.js';
import { kubeconfig } from '../../src/pki/kubeconfig.js';
import { defaultKubeconfigPath, mergeIntoFile, mergeKubeconfig } from '../../src/pki/kubeconfig-merge.js';
import { useTempDir } from '../support/tmp.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function alice(server = 'https://10.0.0.11:6443'): string {
  return kubeconfig({ cluster: 'lab', server, user: 'alice@lab', context: 'alice@lab', caCertPem: PEM, clientCertPem: PEM, clientKeyPem: 'KEY' });
}

/** What kubectl users already have: another cluster, their preferences, an extension kubestrap knows nothing of. */
const EXISTING = `apiVersion: v1
kind: Config
preferences:
  colors: true
clusters:
  - name: prod
    cluster: { server: https://prod.example.com:6443 }
  - name: lab
    cluster: { server: https://old.example.com:6443 }
users:
  - name: me@prod
    user: { token: abc }
contexts:
  - name: me@prod
    context: { cluster: prod, user: me@prod, namespace: web }
current-context: me@prod
extensions:
  - name: something
    extension: { kept: yes }
`;

describe('kubeconfig --merge', () => {
  const tmp = useTempDir();

  it('adds the cluster, user and context, replaces entries of the same name in place, keeps the rest, switches the current context', () => {
    const merged = parse(mergeKubeconfig(EXISTING, alice(), 'config')) as Record<string, Array<{ name: string } & Record<string, Record<string, unknown>>>>;
    expect(merged.clusters!.map((c) => [c.name, c.cluster!.server])).toEqual([
      ['prod', 'https://prod.example.com:6443'],
      ['lab', 'https://10.0.0.11:6443'],
    ]);
    expect(merged.clusters![1]!.cluster!['certificate-authority-data']).toBe(Buffer.from(PEM).toString('base64'));
    expect(merged.users!.map((u) => u.name)).toEqual(['me@prod', 'alice@lab']);
    expect(merged.contexts!.map((c) => [c.name, c.context])).toEqual([
      ['me@prod', { cluster: 'prod', user: 'me@prod', namespace: 'web' }],
      ['alice@lab', { cluster: 'lab', user: 'alice@lab' }],
    ]);
    expect(merged['current-context']).toBe('alice@lab');
    expect(merged.preferences).toEqual({ colors: true });
    expect(merged.extensions).toEqual([{ name: 'something', extension: { kept: 'yes' } }]);
  });

  it('merging again changes nothing but what changed (a tunnel address, a new certificate)', () => {
    const once = mergeKubeconfig(EXISTING, alice(), 'config');
    expect(mergeKubeconfig(once, alice(), 'config')).toBe(once);
    const tunnelled = parse(mergeKubeconfig(once, alice('https://127.0.0.1:7443'), 'config')) as { clusters: Array<{ cluster: { server: string } }> };
    expect(tunnelled.clusters.map((c) => c.cluster.server)).toEqual(['https://prod.example.com:6443', 'https://127.0.0.1:7443']);
  });

  it('starts a kubeconfig where there is none, or an empty file', () => {
    for (const existing of [undefined, '', '\n']) {
      const merged = parse(mergeKubeconfig(existing, alice(), 'config')) as Record<string, unknown>;
      expect(merged).toMatchObject({ apiVersion: 'v1', kind: 'Config', 'current-context': 'alice@lab' });
      expect(merged.clusters).toHaveLength(1);
    }
  });

  it('refuses a file kubectl could not read either, naming it', () => {
    for (const bad of ['clusters: [unclosed', '- a\n- b\n', 'clusters: notalist\n']) {
      expect(() => mergeKubeconfig(bad, alice(), '/home/me/.kube/config')).toThrow(KubeconfigError);
    }
    try {
      mergeKubeconfig('clusters: notalist\n', alice(), '/home/me/.kube/config');
    } catch (err) {
      expect((err as KubeconfigError).format()).toBe(
        '/home/me/.kube/config: cannot merge into this kubeconfig: clusters is not a list\n  fix: fix or move the file (kubectl cannot read it either), or write a separate file with --out',
      );
    }
  });

  it("writes into $KUBECONFIG's first file, else ~/.kube/config", () => {
    expect(defaultKubeconfigPath({ KUBECONFIG: '/a/one:/b/two' }, '/home/me')).toBe('/a/one');
    expect(defaultKubeconfigPath({ KUBECONFIG: ':/b/two' }, '/home/me')).toBe('/b/two');
    expect(defaultKubeconfigPath({}, '/home/me')).toBe('/home/me/.kube/config');
    expect(defaultKubeconfigPath({ KUBECONFIG: '' }, '/home/me')).toBe('/home/me/.kube/config');
  });

  it('writes the file private (0600), its folder made private too; a linked kubeconfig is updated where it points', () => {
    const file = join(tmp(), 'home', '.kube', 'config');
    mergeIntoFile(file, alice());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(tmp(), 'home', '.kube')).mode & 0o777).toBe(0o700);

    mkdirSync(join(tmp(), 'dotfiles'));
    const real = join(tmp(), 'dotfiles', 'kubeconfig');
    writeFileSync(real, EXISTING, { mode: 0o644 });
    const link = join(tmp(), 'linked-config');
    symlinkSync(real, link);
    mergeIntoFile(link, alice());
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(real);
    expect(readFileSync(real, 'utf8')).toContain('alice@lab');
    expect(readFileSync(real, 'utf8')).toContain('me@prod');
    expect(statSync(real).mode & 0o777).toBe(0o600);
  });
});
