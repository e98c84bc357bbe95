import { describe, expect, it } from 'vitest';
import { registryHostsFiles } from '../../src/runtime/registry-hosts.js';

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
});
