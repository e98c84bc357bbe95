import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostSpec } from '../../src/config/cluster-spec.js';
import type { HostFacts } from '../../src/engine/facts.js';
import { HostError } from '../../src/errors.js';
import { detectOs } from '../../src/os/detect.js';
import { HOST_TOOLS, MISSING_TOOLS_FACT, toolInstall, toolPackages } from '../../src/os/host-tools.js';
import type { ClusterContext } from '../../src/phases/context.js';
import { hostDescriber } from '../../src/phases/describe.js';
import { osPhase } from '../../src/phases/os-prep.js';
import { toolProblems } from '../../src/preflight/host-tools.js';
import { IPVS_MODULES_FACT, kubeProxyModeFacts, kubeProxyModeProblems, NFT_FACT, nftVersionCheck } from '../../src/preflight/kube-proxy-mode.js';
import { IPVS_MODULES } from '../../src/upstream/index.js';
import { shRun } from '../engine/support.js';
import { factsFor } from '../os/os-releases.js';
import { clusterFrom } from '../support/cluster.js';
import { refusal } from '../support/refusal.js';
import { useTempDir } from '../support/tmp.js';

const tmpDirs = useTempDir();

/** A problem as the CLI prints it, without its fix line. */
const firstLine = (p: { format(): string }) => p.format().split('\n')[0];

/** Facts of a Debian 12 host, with the phases' snippets answering `extra` and the kernel `kernel`. */
function hostFacts(extra: Record<string, string>, kernel = '6.1.0-13-amd64'): HostFacts {
  const facts = factsFor('debian12');
  return { ...facts, kernel, extra: { ...facts.extra, ...extra } };
}

/** The lab inventory (m1 etcd+master, w1 worker, e1 etcd) on Debian 12 hosts, in a run of `phases`. */
function context(config: string, factsOf: (h: HostSpec) => HostFacts, phases?: readonly string[]): ClusterContext {
  const spec = clusterFrom(tmpDirs(), config);
  return {
    spec,
    mode: 'apply',
    hosts: spec.hosts.map((host) => ({ host, facts: factsOf(host), os: detectOs(host.name, factsFor('debian12')), files: [] })),
    ...(phases ? { phases } : {}),
  };
}

describe('the tools kubestrap runs on hosts', () => {
  it('lists every command once, each with what it is for', () => {
    const commands = HOST_TOOLS.map((t) => t.command);
    expect(new Set(commands).size).toBe(commands.length);
    for (const c of ['curl', 'tar', 'gzip', 'iptables', 'modprobe', 'sysctl', 'cmp', 'ip', 'ss', 'sha256sum', 'systemctl']) expect(commands).toContain(c);
    expect(HOST_TOOLS.every((t) => t.usedFor.length > 0)).toBe(true);
  });

  it('finds what a host lacks with one shell loop, whatever else is on its PATH', () => {
    const bin = join(tmpDirs(), 'bin');
    mkdirSync(bin);
    for (const tool of ['tar', 'gzip', 'iptables', 'ip', 'ss']) {
      writeFileSync(join(bin, tool), '#!/bin/sh\n');
      chmodSync(join(bin, tool), 0o755);
    }
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const run = shRun(MISSING_TOOLS_FACT.snippet as string, { PATH: bin });
    const missing = MISSING_TOOLS_FACT.parse(run.stdout)!;
    expect(missing.has('curl')).toBe(true);
    expect(missing.has('tar')).toBe(false);
    expect(missing.has('ip')).toBe(false);
    expect(missing.has('sysctl')).toBe(true);
  });

  it("installs the distribution's iptables, and the packages of the tools a host lacks, in the OS adapter's names", () => {
    const lacking = (commands: string) => hostFacts({ [MISSING_TOOLS_FACT.key]: commands });
    const debian = detectOs('x', factsFor('debian12')).adapter;
    const rocky = detectOs('x', factsFor('rocky93')).adapter;
    expect(toolPackages(debian, lacking(''))).toEqual(['iptables']);
    expect(toolPackages(debian, lacking('curl\nsysctl\nmodprobe\ncmp\ntar\ngzip\n'))).toEqual(['curl', 'tar', 'gzip', 'iptables', 'kmod', 'procps', 'diffutils']);
    expect(toolPackages(rocky, lacking('curl\nsysctl\n'))).toEqual(['curl', 'iptables-nft', 'procps-ng']);
    expect(toolInstall(detectOs('x', factsFor('rocky93')).adapter, ['ip', 'ss'])).toEqual({ packages: ['iproute'], command: 'dnf install -y iproute' });
  });

  it('refuses a host without ip or ss, which kubestrap reads hosts with before it can install anything, naming the package', () => {
    const missing = (h: HostSpec) => hostFacts({ [MISSING_TOOLS_FACT.key]: h.name === 'w1' ? 'ss\ncurl\n' : '' });
    const problems = osPhase.preflight!(context('', missing, ['os', 'runtime', 'workers']));
    expect(problems.map(firstLine)).toEqual(['w1 host tools: lacks a command kubestrap runs there: ss (the ports in use (preflight))']);
    expect(problems[0]!.hint).toBe('install iproute2 on w1 (apt-get install -y iproute2), then run again');
  });

  it('says that ip may be missing when a host reports no address at all, not that the cluster address is wrong', () => {
    const [host] = clusterFrom(tmpDirs(), '').hosts;
    const error = refusal(HostError, () => hostDescriber(() => [])(host!, factsFor('rocky93', { addresses: '' })), 'a host without addresses');
    expect(error.message).toBe('reports no IPv4 address at all, so kubestrap cannot check that 10.0.0.11 is its own: it reads them with `ip -o -4 addr show`, which the host may lack');
    expect(error.hint).toBe('install iproute on the host (dnf install -y iproute), then run again');
  });

  it('counts on the OS phase for the tools it installs (curl), and refuses them in a run without it', () => {
    const noCurl = () => hostFacts({ [MISSING_TOOLS_FACT.key]: 'curl\n' });
    expect(toolProblems(context('', noCurl, ['os', 'control-plane']), () => ['curl'])).toEqual([]);
    const [problem, ...more] = toolProblems(context('', noCurl, ['control-plane']), (h) => (h.host.roles.includes('master') ? ['curl'] : []));
    expect(more).toEqual([]);
    expect(problem!.format()).toContain("m1 host tools: lacks a command kubestrap runs there: curl (the readiness checks and `bootstrap health`, which read the components' health endpoints)");
    expect(problem!.hint).toBe('install curl on m1 (apt-get install -y curl), or run the os phase, which installs them, then run again');
  });
});

describe("kube-proxy's mode, on the hosts that run kube-proxy", () => {
  const ipvs = (state: (module: string) => string) => IPVS_MODULES.map((m) => `${m} ${state(m)}`).join('\n');

  it('reads ipvs modules only where kube-proxy runs in ipvs mode, nft only in nftables mode', () => {
    const spec = clusterFrom(tmpDirs(), 'KUBE_PROXY_MODE=ipvs\n');
    expect(spec.hosts.map((h) => kubeProxyModeFacts(h).map((f) => f.key))).toEqual([[], ['ipvs-modules'], []]);
    const nft = clusterFrom(tmpDirs(), 'KUBE_PROXY_MODE=nftables\n');
    expect(nft.hosts.map((h) => kubeProxyModeFacts(h).map((f) => f.key))).toEqual([[], ['nft-version'], []]);
    expect(clusterFrom(tmpDirs(), '').hosts.flatMap((h) => kubeProxyModeFacts(h))).toEqual([]);
  });

  it('tells loaded, loadable (built in or a module file) and missing modules apart, as modprobe would', () => {
    const root = tmpDirs();
    const kernel = shRun('uname -r').stdout.trim();
    mkdirSync(join(root, 'sys/module/nf_conntrack'), { recursive: true });
    mkdirSync(join(root, `lib/modules/${kernel}`), { recursive: true });
    writeFileSync(join(root, `lib/modules/${kernel}/modules.builtin`), 'kernel/net/netfilter/ipvs/ip_vs.ko\n');
    writeFileSync(join(root, `lib/modules/${kernel}/modules.dep`), 'kernel/net/netfilter/ipvs/ip_vs_rr.ko.xz: kernel/net/netfilter/ipvs/ip_vs.ko.xz\n');
    const snippet = (IPVS_MODULES_FACT.snippet as string).replaceAll("'/sys/module/", `'${root}/sys/module/`).replaceAll('"/lib/modules/', `"${root}/lib/modules/`);
    const states = IPVS_MODULES_FACT.parse(shRun(snippet).stdout)!;
    expect(Object.fromEntries(states)).toEqual({ ip_vs: 'available', ip_vs_rr: 'available', ip_vs_wrr: 'missing', ip_vs_sh: 'missing', nf_conntrack: 'loaded' });
  });

  it('refuses a worker whose kernel cannot load ip_vs (the lab kernel has none), naming the modules and the ways out', () => {
    const factsOf = (h: HostSpec) => hostFacts({ [IPVS_MODULES_FACT.key]: ipvs((m) => (m === 'nf_conntrack' ? 'available' : 'missing')) }, h.name === 'w1' ? '6.18.44-fc-v1272' : '6.1.0');
    const problems = kubeProxyModeProblems(context('KUBE_PROXY_MODE=ipvs\n', factsOf));
    expect(problems.map(firstLine)).toEqual([
      "w1 KUBE_PROXY_MODE: kube-proxy's ipvs mode needs the kernel modules ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh, which kernel 6.18.44-fc-v1272 cannot load: neither loaded, built in, nor a module file under /lib/modules/6.18.44-fc-v1272",
    ]);
    expect(problems[0]!.hint).toContain('or set KUBE_PROXY_MODE=nftables (kernel 5.13+) or iptables');
    expect(kubeProxyModeProblems(context('KUBE_PROXY_MODE=ipvs\n', () => hostFacts({ [IPVS_MODULES_FACT.key]: ipvs(() => 'available') })))).toEqual([]);
  });

  it('refuses nftables mode on a kernel older than 5.13 or with an nft older than 1.0.1; an nft still to be installed is checked once it is', () => {
    const on = (kernel: string, nft: string) => kubeProxyModeProblems(context('KUBE_PROXY_MODE=nftables\n', () => hostFacts({ [NFT_FACT.key]: nft }, kernel))).map(firstLine);
    expect(on('5.10.0-28-amd64', 'nftables v0.9.8 (E.D.S.)')).toEqual([
      "w1 KUBE_PROXY_MODE: kube-proxy's nftables mode needs Linux 5.13 or later, and this host runs 5.10.0-28-amd64",
      "w1 KUBE_PROXY_MODE: kube-proxy's nftables mode needs nft v1.0.1 or later, and this host has nft v0.9.8",
    ]);
    expect(on('6.1.0-13-amd64', 'nftables v1.0.6 (Lester Gooch #5)')).toEqual([]);
    expect(on('5.15.0-91-generic', 'absent')).toEqual([]);
  });

  it('checks the nft the OS phase installed, failing with the version it found', () => {
    const bin = join(tmpDirs(), 'bin');
    mkdirSync(bin);
    const fakeNft = (version: string) => {
      writeFileSync(join(bin, 'nft'), `#!/bin/sh\necho 'nftables v${version} (Lester Gooch)'\n`);
      chmodSync(join(bin, 'nft'), 0o755);
    };
    const env = { PATH: `${bin}:/usr/bin:/bin` };
    const { check, run } = nftVersionCheck();
    fakeNft('1.0.6');
    expect(shRun(check, env).code).toBe(0);
    fakeNft('1.0.1');
    expect(shRun(check, env).code).toBe(0);
    fakeNft('0.9.3');
    expect(shRun(check, env).code).not.toBe(0);
    const failed = shRun(run, env);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe("kube-proxy's nftables mode needs nft v1.0.1 or later; this host's package manager installed nft 0.9.3\n");
  });

  it("installs what the mode needs where kube-proxy runs, and checks nft's version after the install", () => {
    const resources = (config: string, name: string) => {
      const spec = clusterFrom(tmpDirs(), config);
      const host = spec.hosts.find((h) => h.name === name)!;
      const facts = factsFor('debian12');
      return osPhase.resources({ spec, host, facts, os: detectOs(name, facts), files: [] });
    };
    const packages = (config: string, name: string) => resources(config, name).flatMap((r) => (r.kind === 'package' ? r.names : []));
    expect(packages('KUBE_PROXY_MODE=ipvs\n', 'w1')).toEqual(expect.arrayContaining(['ipset', 'ipvsadm']));
    expect(packages('KUBE_PROXY_MODE=ipvs\n', 'm1')).not.toContain('ipvsadm');
    expect(packages('KUBE_PROXY_MODE=nftables\n', 'w1')).toContain('nftables');
    const kinds = resources('KUBE_PROXY_MODE=nftables\n', 'w1').map((r) => (r.kind === 'command' ? r.name : r.kind));
    expect(kinds.indexOf('nft-version')).toBe(kinds.indexOf('package') + 1);
  });
});
