import { describe, expect, it } from 'vitest';
import type { PackageResource } from '../../../src/engine/resource.js';
import { debianAdapter } from '../../../src/os/debian.js';
import { elAdapter } from '../../../src/os/el.js';
import { diffResources, parseProbe, probeScript } from '../../../src/engine/probe.js';
import { debianCtx, diffOf, elCtx, observe, stepTexts } from '../support.js';

const pkgs: PackageResource = { kind: 'package', names: ['iptables', 'conntrack-tools', 'socat'] };

describe('package kind', () => {
  it('installs only the missing packages with the adapter command', () => {
    const c = diffOf(pkgs, 'iptables ii', elCtx);
    expect(c?.summary).toBe('install packages conntrack-tools, socat with dnf');
    expect(stepTexts(c)).toEqual([elCtx.packages.installPackages(['conntrack-tools', 'socat'])]);
    expect(stepTexts(c)[0]!.split('\n')[0]).toBe('dnf install -y -q conntrack-tools socat');
    expect(c?.failureHint).toContain('repositories listed');
    expect(c?.resourceId).toBe('package:iptables,conntrack-tools,socat');
    // Downloads and unpacking outlast a command's usual two minutes on a slow mirror or a busy host.
    expect(c?.timeoutSec).toBe(900);
  });

  it('says "package" for one, and uses apt on Debian', () => {
    const c = diffOf({ kind: 'package', names: ['iptables'] }, '', debianCtx);
    expect(c?.summary).toBe('install package iptables with apt');
    expect(c?.failureHint).toContain('package repositories');
    expect(stepTexts(c)).toEqual([debianAdapter.installPackages(['iptables'])]);
    expect(stepTexts(c)[0]).toContain('apt-get install -y -q --no-install-recommends');
  });

  it('has nothing to do when all are installed, whatever the line order or spacing', () => {
    expect(diffOf(pkgs, 'socat ii\n  iptables ii\nconntrack-tools ii', elCtx)).toBeUndefined();
  });

  it('does not take a substring or a not-installed message for an installed package', () => {
    expect(diffOf({ kind: 'package', names: ['iptables'] }, 'iptables-nft ii', elCtx)).toBeDefined();
    expect(diffOf({ kind: 'package', names: ['socat'] }, 'package socat is not installed', elCtx)).toBeDefined();
  });

  it('uses yum on EL 7', () => {
    const c = diffOf({ kind: 'package', names: ['socat'] }, '', { packages: elAdapter(7, 'yum') });
    expect(c?.summary).toBe('install package socat with yum');
    expect(stepTexts(c)[0]!.split('\n')[0]).toBe('yum install -y -q socat');
  });

  it('real Debian probe: bash is installed, a made-up package is missing', () => {
    const r: PackageResource = { kind: 'package', names: ['bash', 'definitely-not-a-package'] };
    const observed = observe(r, { ctx: debianCtx });
    expect(observed).toBe('bash ii');
    expect(diffOf(r, observed, debianCtx)?.summary).toBe('install package definitely-not-a-package with apt');
    expect(diffOf({ kind: 'package', names: ['bash', 'coreutils'] }, observe({ kind: 'package', names: ['bash', 'coreutils'] }), debianCtx)).toBeUndefined();
  });

  it("asks the package database once for all of a host's package resources", () => {
    const rs: PackageResource[] = [
      { kind: 'package', names: ['iptables'] },
      { kind: 'package', names: ['containerd', 'docker.io'] },
      { kind: 'package', names: ['iptables', 'haproxy'] },
    ];
    const script = probeScript(rs, debianCtx);
    expect(script.match(/dpkg-query/g)).toHaveLength(1);
    const probe = parseProbe('\n@@kubestrap-section b-package\niptables ii\ndocker.io ii\n', rs);
    expect(diffResources(rs, probe, debianCtx).map((c) => c.summary)).toEqual(['install package containerd with apt', 'install package haproxy with apt']);
  });
});
