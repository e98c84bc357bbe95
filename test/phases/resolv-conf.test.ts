import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostFacts } from '../../src/engine/facts.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { hostValues } from '../../src/phases/index.js';
import { kubeletResolvConf, parseResolvConf, RESOLV_CONF_FACT, RESOLVED_UPSTREAM_FILE } from '../../src/phases/resolv-conf.js';
import { workersPhase } from '../../src/phases/workers.js';
import { renderCluster } from '../../src/render/render-cluster.js';
import { sh } from '../engine/support.js';
import { factsFor } from '../os/os-releases.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir, writeTree } from '../support/tmp.js';

/** Ubuntu 24.04's /etc/resolv.conf (a link to systemd-resolved's stub-resolv.conf), as it ships. */
const UBUNTU_STUB = ['# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).', '# Do not edit.', 'nameserver 127.0.0.53', 'options edns0 trust-ad', 'search .', ''].join(
  '\n',
);

function withResolv(output: string): HostFacts {
  const facts = factsFor('ubuntu2204');
  facts.extra = { [RESOLV_CONF_FACT.key]: output };
  return facts;
}

describe("the kubelet's resolv.conf", () => {
  const tmp = useTempDir();

  /** The fact's snippet, run by sh against files in a folder of its own instead of / . */
  function runSnippet(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmp(), 'root-'));
    writeTree(root, files);
    const snippet = RESOLV_CONF_FACT.snippet as string;
    return sh(snippet.replaceAll('/etc/resolv.conf', join(root, 'etc/resolv.conf')).replaceAll(RESOLVED_UPSTREAM_FILE, join(root, RESOLVED_UPSTREAM_FILE)));
  }

  it('reads the nameserver lines and whether systemd-resolved wrote its upstream file', () => {
    const out = runSnippet({ 'etc/resolv.conf': UBUNTU_STUB, [RESOLVED_UPSTREAM_FILE]: 'nameserver 10.0.0.1\n' });
    expect(parseResolvConf(out)).toEqual({ nameservers: ['127.0.0.53'], upstreamFile: true });
    expect(parseResolvConf(runSnippet({ 'etc/resolv.conf': '# nameserver 1.1.1.1\nnameserver 10.0.0.1\nnameserver\t10.0.0.2\n' }))).toEqual({
      nameservers: ['10.0.0.1', '10.0.0.2'],
      upstreamFile: false,
    });
  });

  it('reads a last line that has no newline', () => {
    expect(parseResolvConf(runSnippet({ 'etc/resolv.conf': 'search lan\nnameserver 127.0.0.53' })).nameservers).toEqual(['127.0.0.53']);
  });

  it('reads nothing, and succeeds, on a host without /etc/resolv.conf', () => {
    expect(parseResolvConf(runSnippet({}))).toEqual({ nameservers: [], upstreamFile: false });
  });

  it("points the kubelet at systemd-resolved's upstream servers only where /etc/resolv.conf names just the stub and they exist", () => {
    expect(kubeletResolvConf(withResolv('nameserver 127.0.0.53\nupstream-file'))).toBe(RESOLVED_UPSTREAM_FILE);
    // The stub without the upstream file: nothing better to give (systemd-resolved not running).
    expect(kubeletResolvConf(withResolv('nameserver 127.0.0.53'))).toBe('');
    // Real servers next to the stub, or instead of it: /etc/resolv.conf works in pods.
    expect(kubeletResolvConf(withResolv('nameserver 127.0.0.53\nnameserver 10.0.0.1\nupstream-file'))).toBe('');
    expect(kubeletResolvConf(withResolv('nameserver 10.0.0.1\nupstream-file'))).toBe('');
    expect(kubeletResolvConf(withResolv('upstream-file'))).toBe('');
    // Not read (render, or a run whose phases do not read it): the kubelet's default.
    expect(kubeletResolvConf(undefined)).toBe('');
    expect(kubeletResolvConf(factsFor('ubuntu2204'))).toBe('');
  });

  it('is read on the hosts the workers phase runs on', () => {
    const facts = workersPhase.facts;
    expect(Array.isArray(facts) ? facts.map((f) => f.key) : []).toContain(RESOLV_CONF_FACT.key);
  });

  it("renders resolvConf into the kubelet's configuration of a systemd-resolved host, and nothing on another", () => {
    const spec = clusterFrom(tmp(), '');
    const worker = spec.hosts.find((h) => h.name === 'w1')!;
    const kubeletConfig = (facts: HostFacts | undefined) =>
      renderCluster(spec, BUNDLED_UNITS, (h) => hostValues(h, h === worker ? facts : undefined))
        .hosts.find((h) => h.host === worker)!
        .files.find((f) => f.path === '/etc/kubernetes/kubelet-config.yaml')!
        .content.toString();
    expect(kubeletConfig(withResolv('nameserver 127.0.0.53\nupstream-file'))).toContain(`\nresolvConf: ${RESOLVED_UPSTREAM_FILE}\n`);
    expect(kubeletConfig(withResolv('nameserver 10.0.0.1'))).not.toContain('resolvConf');
    expect(kubeletConfig(undefined)).not.toContain('resolvConf');
  });
});
