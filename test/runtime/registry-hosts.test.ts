import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registryHostsFiles, staleRegistryDirsScript } from '../../src/runtime/registry-hosts.js';
import { sh } from '../engine/support.js';
import { useTempDir } from '../support/tmp.js';

describe('containerd registry hosts.toml files', () => {
  it('sends docker.io through the mirrors in order, then Docker Hub itself', () => {
    const [hub, ...rest] = registryHostsFiles('https://m1.example/,https://m2.example', '');
    expect(rest).toEqual([]);
    expect(hub!.path).toBe('/etc/containerd/certs.d/docker.io/hosts.toml');
    expect(hub!.content).toBe(
      [
        '# Managed by kubestrap: registry settings of docker.io (config.properties).',
        'server = "https://registry-1.docker.io"',
        '',
        '[host."https://m1.example"]',
        '  capabilities = ["pull", "resolve"]',
        '',
        '[host."https://m2.example"]',
        '  capabilities = ["pull", "resolve"]',
        '',
      ].join('\n'),
    );
  });

  it('reaches insecure registries over plain HTTP without certificate checks, and leaves CIDRs to Docker', () => {
    const files = registryHostsFiles('', '10.0.0.5:5000,10.1.0.0/16,registry.lan');
    expect(files.map((f) => f.registry)).toEqual(['10.0.0.5:5000', 'registry.lan']);
    expect(files[0]!.content).toContain('server = "http://10.0.0.5:5000"\n\n[host."http://10.0.0.5:5000"]\n  capabilities = ["pull", "resolve", "push"]\n  skip_verify = true\n');
  });

  it('writes nothing without mirrors or registries', () => {
    expect(registryHostsFiles('', '')).toEqual([]);
  });

  describe('pruning, run for real', () => {
    const tmp = useTempDir();

    it('lists only folders kubestrap wrote for registries no longer configured, and the prune removes just those', () => {
      const dir = tmp();
      const write = (registry: string, content: string) => {
        mkdirSync(join(dir, registry));
        writeFileSync(join(dir, registry, 'hosts.toml'), content);
      };
      for (const f of registryHostsFiles('https://m1.example', '10.0.0.5:5000,10.0.0.6:5000')) write(f.registry, f.content);
      write('users.registry', 'server = "https://users.registry"\n');

      const script = staleRegistryDirsScript(['docker.io', '10.0.0.5:5000'], dir);
      expect(sh(script)).toBe(`${dir}/10.0.0.6:5000/hosts.toml\n`);
      sh(`${script} | while read -r f; do rm -f "$f" && rmdir "$(dirname "$f")"; done`);
      expect(readdirSync(dir).sort()).toEqual(['10.0.0.5:5000', 'docker.io', 'users.registry']);
      expect(sh(script)).toBe('');
    });
  });
});
