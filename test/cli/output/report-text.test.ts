import { describe, expect, it } from 'vitest';
import { formatReport, runClosingLine } from '../../../src/cli/output/report-text.js';
import { reportJson } from '../../../src/cli/output/report-json.js';
import type { Change } from '../../../src/engine/change.js';
import { sha256 } from '../../../src/engine/kinds/file.js';
import type { HostReport, PhaseHostReport, RunReport } from '../../../src/engine/report.js';
import type { FileResource } from '../../../src/engine/resource.js';
import { HostError, SshError } from '../../../src/errors.js';
import { displayFilter } from '../../../src/printable.js';
import { diffOf } from '../../engine/support.js';
import { expectFitsSchemaFile } from '../../support/report-schemas.js';
import type { UpgradeStep } from '../../../src/phases/upgrade-view.js';

const OLD_SYSCTL = 'net.ipv4.ip_forward = 0\nnet.bridge.bridge-nf-call-iptables = 1\n';
const NEW_SYSCTL = 'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n';
const file = (path: string, content: string, over: Partial<FileResource> = {}): FileResource => ({
  kind: 'file',
  path,
  content,
  mode: 0o644,
  owner: 'root',
  group: 'root',
  restarts: [],
  ...over,
});

/** Real changes, as the kinds produce them from probe output. */
const changes = {
  sysctlFile: diffOf(file('/etc/sysctl.d/k8s.conf', NEW_SYSCTL, { restarts: ['kubelet'] }), `644 root root\n${sha256(OLD_SYSCTL)}`)!,
  modules: diffOf(file('/etc/modules-load.d/k8s.conf', 'br_netfilter\noverlay\n'), 'absent')!,
  key: diffOf(file('/etc/kubernetes/ssl/ca-key.pem', 'PRIVATE\n', { mode: 0o600, secret: true }), `600 root root\n${sha256('OLD\n')}`)!,
  sysctl: diffOf({ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' }, '0\nread-only')!,
  swap: diffOf({ kind: 'swapOff' }, 'fstab 3 /swapfile none swap sw 0 0')!,
  iptables: diffOf({ kind: 'package', names: ['iptables'] }, '')!,
} satisfies Record<string, Change>;

const hosts = (m1: HostReport['status'], extra: HostReport[] = []): HostReport[] => [
  { host: 'm1', address: '10.0.0.11', status: m1, system: 'Rocky Linux 9.6 (dnf)', stats: { handshakes: 1, execs: 3, sftpOps: 2 } },
  { host: 'w1', address: '10.0.0.12', status: 'ok', system: 'Debian GNU/Linux 12 (apt)', stats: { handshakes: 1, execs: 2, sftpOps: 0 } },
  ...extra,
];

function result(over: Partial<PhaseHostReport>): PhaseHostReport {
  return { phase: 'os', host: 'm1', status: 'changed', changes: [], restarts: [], notApplied: [], currentContent: new Map(), durationMs: 5, ...over };
}

const planReport: RunReport = {
  mode: 'plan',
  refused: [],
  phases: ['os'],
  hosts: hosts('changed', [{ host: 'e1', address: '10.0.0.13', status: 'unreachable', error: new SshError('e1', 'connect', 'connection refused', 'check that sshd runs') }]),
  results: [
    result({
      changes: [changes.sysctlFile, changes.modules, changes.key, changes.sysctl, changes.swap],
      restarts: [
        { service: 'kubelet', because: ['/etc/sysctl.d/k8s.conf'], managed: true },
        { service: 'docker', because: ['an earlier run changed its inputs but did not finish restarting it'], managed: false },
      ],
      currentContent: new Map<string, string | null>([
        ['/etc/sysctl.d/k8s.conf', OLD_SYSCTL],
        ['/etc/modules-load.d/k8s.conf', null],
      ]),
    }),
    result({ host: 'w1', status: 'ok' }),
  ],
  stages: [
    { name: 'connect', durationMs: 1200 },
    { name: 'os', durationMs: 340 },
  ],
  durationMs: 1540,
};

const failure = new HostError(
  'm1',
  'install package iptables: failed',
  { resource: 'package:iptables', command: 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables', exitCode: 100, stderrTail: 'E: Unable to locate package iptables' },
  'check that the host reaches its package repositories (or a local mirror)',
);

const applyReport: RunReport = {
  mode: 'apply',
  refused: [],
  phases: ['os'],
  hosts: [{ ...hosts('failed')[0]!, error: failure }, hosts('failed')[1]!],
  results: [result({ status: 'failed', changes: [changes.modules], notApplied: [changes.iptables, changes.sysctlFile], error: failure }), result({ host: 'w1', status: 'ok' })],
  stages: [
    { name: 'connect', durationMs: 1049 },
    { name: 'os', durationMs: 1000 },
  ],
  durationMs: 2049,
};

describe('formatReport', () => {
  it('plan: every change, unified diffs, new files, hidden secrets, restarts and totals', () => {
    expect(formatReport(planReport)).toBe(
      [
        '== hosts ==',
        'm1 (10.0.0.11): Rocky Linux 9.6 (dnf)',
        'w1 (10.0.0.12): Debian GNU/Linux 12 (apt)',
        'e1 (10.0.0.13): unreachable',
        '  e1 [connect]: connection refused',
        '    fix: check that sshd runs',
        '== os: OS preparation ==',
        'm1 (10.0.0.11): 7 to change',
        '  ~ update /etc/sysctl.d/k8s.conf',
        '      --- /etc/sysctl.d/k8s.conf\ton the host',
        '      +++ /etc/sysctl.d/k8s.conf\tdesired',
        '      @@ -1,2 +1,2 @@',
        '      -net.ipv4.ip_forward = 0',
        '      +net.ipv4.ip_forward = 1',
        '       net.bridge.bridge-nf-call-iptables = 1',
        '  + create /etc/modules-load.d/k8s.conf (0644 root:root, 21 bytes)',
        '      +br_netfilter',
        '      +overlay',
        '  ~ update /etc/kubernetes/ssl/ca-key.pem',
        '      (content hidden: secret)',
        '  ~ sysctl net.ipv4.ip_forward: 0 → 1',
        '      ! /proc/sys/net/ipv4/ip_forward is read-only on this host: the kernel will refuse the new value',
        '  ~ swap: comment out 1 swap line in /etc/fstab',
        '      -/swapfile none swap sw 0 0',
        '      +# kubestrap: swap off for the kubelet: /swapfile none swap sw 0 0',
        '  ↻ restart kubelet because: /etc/sysctl.d/k8s.conf',
        '  ↻ restart docker (if running) because: an earlier run changed its inputs but did not finish restarting it',
        'w1 (10.0.0.12): no changes',
        'Plan: 5 change(s) and 2 restart(s) planned on 1 host(s), 1 up to date, 1 unreachable (1.5 s) — FAILED',
        '',
      ].join('\n'),
    );
  });

  it('plan: a clean run says so and does not fail', () => {
    const clean: RunReport = { ...planReport, hosts: hosts('ok'), results: [result({ status: 'ok' }), result({ host: 'w1', status: 'ok' })] };
    expect(formatReport(clean)).toBe(
      '== hosts ==\nm1 (10.0.0.11): Rocky Linux 9.6 (dnf)\nw1 (10.0.0.12): Debian GNU/Linux 12 (apt)\n== os: OS preparation ==\nm1 (10.0.0.11): no changes\nw1 (10.0.0.12): no changes\nPlan: 0 change(s) and 0 restart(s) planned on 0 host(s), 2 up to date (1.5 s)\n',
    );
  });

  it('plan --limit: the hosts no phase needed are one line, and counted', () => {
    const others = ['w2', 'w3', 'w4', 'w5', 'w6', 'w7'].map((name, i): HostReport => ({ host: name, address: `10.0.0.${20 + i}`, status: 'skipped' }));
    const limited: RunReport = { ...planReport, hosts: hosts('ok', others), results: [result({ status: 'ok' }), result({ host: 'w1', status: 'ok' })] };
    const text = formatReport(limited);
    expect(text).toContain('w1 (10.0.0.12): Debian GNU/Linux 12 (apt)\nnot contacted (--limit: no phase needs them): w2, w3, w4, w5, w6 and 1 more\n== os');
    expect(text).not.toContain('w7 (');
    expect(text).toContain('2 up to date, 6 not contacted (1.5 s)\n');
  });

  it('apply: what was done without diffs, the failure with command and exit code, and what was not applied', () => {
    expect(formatReport(applyReport)).toBe(
      [
        '== hosts ==',
        'm1 (10.0.0.11): Rocky Linux 9.6 (dnf)',
        'w1 (10.0.0.12): Debian GNU/Linux 12 (apt)',
        '== os: OS preparation ==',
        'm1 (10.0.0.11): FAILED after 1 change(s)',
        '  + create /etc/modules-load.d/k8s.conf (0644 root:root, 21 bytes)',
        '  m1 package:iptables: install package iptables: failed',
        '    fix: check that the host reaches its package repositories (or a local mirror)',
        '    command: DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables',
        '    exit code: 100',
        '    stderr:',
        '      E: Unable to locate package iptables',
        '  not applied: install package iptables with apt; update /etc/sysctl.d/k8s.conf',
        'w1 (10.0.0.12): ok, nothing to change',
        'Apply: 1 change(s) and 0 restart(s) applied on 1 host(s), 1 up to date, 1 failed (2.0 s) — FAILED',
        '',
      ].join('\n'),
    );
  });
});

describe('text from hosts in reports', () => {
  // A host's file holding escape sequences (clear screen, a fake line drawn over the real one) and
  // a bidirectional override; its stderr holding the sudo password.
  const HOSTILE = 'net.ipv4.ip_forward = 0\x1b[2J\x1b[1;1H\rPlan: 0 change(s)\u202e\x9b31m\n';
  const hostile: RunReport = {
    ...planReport,
    hosts: hosts('changed'),
    results: [
      result({
        changes: [diffOf(file('/etc/sysctl.d/k8s.conf', NEW_SYSCTL), `644 root root\n${sha256(HOSTILE)}`)!],
        currentContent: new Map([['/etc/sysctl.d/k8s.conf', HOSTILE]]),
        status: 'failed',
        error: new HostError('m1', 'reload: failed', { stderrTail: 'sudo: pw hunter2-lab was \x1b]0;owned\x07' }),
      }),
    ],
  };

  /** Every string value of a JSON report, joined: what a consumer of the JSON would show. */
  const jsonStrings = (json: string) => {
    const strings: string[] = [];
    JSON.parse(json, (_k, v: unknown) => (typeof v === 'string' && strings.push(v), v));
    return strings.join('\n');
  };

  it('plan escapes every control character of a diff and an error, in text and JSON', () => {
    const json = reportJson(hostile);
    expect(json).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
    for (const out of [formatReport(hostile), jsonStrings(json)]) {
      expect(out).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
      expect(out).toContain('net.ipv4.ip_forward = 0\\x1b[2J\\x1b[1;1H\\x0dPlan: 0 change(s)\\u202e\\x9b31m');
      expect(out).toContain('\\x1b]0;owned\\x07');
    }
  });

  it('redacts secrets the caller knows, in text and JSON', () => {
    const shown = displayFilter(['hunter2-lab']);
    for (const out of [formatReport(hostile, shown), jsonStrings(reportJson(hostile, shown))]) {
      expect(out).not.toContain('hunter2-lab');
      expect(out).toContain('sudo: pw ******** was');
    }
  });
});

describe('reportJson', () => {
  it('is JSON with the verdict, round trips per host, and each change by resource id', () => {
    const json = JSON.parse(reportJson(planReport)) as {
      mode: string;
      ok: boolean;
      hosts: Array<{ host: string; status: string; system: string | null; roundTrips: unknown; error: { kind: string; where: string } | null }>;
      results: Array<{ host: string; changes: Array<{ resource: string; summary: string; warning: string | null; detail: string[] }>; restarts: unknown[]; text: string[] }>;
    };
    expect(json.mode).toBe('plan');
    expect(json.ok).toBe(false);
    expect(json.hosts.map((h) => [h.host, h.status, h.system, h.roundTrips])).toEqual([
      ['m1', 'changed', 'Rocky Linux 9.6 (dnf)', { handshakes: 1, execs: 3, sftpOps: 2 }],
      ['w1', 'ok', 'Debian GNU/Linux 12 (apt)', { handshakes: 1, execs: 2, sftpOps: 0 }],
      ['e1', 'unreachable', null, null],
    ]);
    expect(json.hosts[2]!.error).toMatchObject({ kind: 'ssh', where: 'e1 [connect]' });
    const m1 = json.results[0]!;
    expect(m1.changes.map((c) => c.resource)).toEqual([
      'file:/etc/sysctl.d/k8s.conf',
      'file:/etc/modules-load.d/k8s.conf',
      'file:/etc/kubernetes/ssl/ca-key.pem',
      'sysctl:net.ipv4.ip_forward',
      'swapOff',
    ]);
    expect(m1.changes[3]!.warning).toContain('read-only');
    expect(m1.changes[0]!.detail).toEqual([]);
    expect(m1.restarts).toHaveLength(2);
    expect(m1.text).toContain('      (content hidden: secret)');
    expect(JSON.stringify(json)).not.toContain('PRIVATE');
  });

  it('carries a failure with its details', () => {
    const json = JSON.parse(reportJson(applyReport)) as { ok: boolean; results: Array<{ error: unknown; notApplied: Array<{ resource: string }> }> };
    expect(json.ok).toBe(false);
    expect(json.results[0]!.error).toEqual({
      kind: 'host',
      where: 'm1 package:iptables',
      message: 'install package iptables: failed',
      hint: 'check that the host reaches its package repositories (or a local mirror)',
      details: { resource: 'package:iptables', command: 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables', exitCode: 100, stderrTail: 'E: Unable to locate package iptables' },
    });
    expect(json.results[0]!.notApplied.map((c) => c.resource)).toEqual(['package:iptables', 'file:/etc/sysctl.d/k8s.conf']);
  });
});

describe('reports against schemas/', () => {
  it('plan, apply, init and reset reports fit their schema files, with each stage timed', () => {
    for (const name of ['plan', 'init'] as const) expectFitsSchemaFile(name, reportJson(planReport));
    for (const name of ['apply', 'reset'] as const) expectFitsSchemaFile(name, reportJson(applyReport));
    expect((JSON.parse(reportJson(planReport)) as { stages: unknown }).stages).toEqual([
      { name: 'connect', durationMs: 1200 },
      { name: 'os', durationMs: 340 },
    ]);
  });
});

describe('the upgrade section', () => {
  const steps: UpgradeStep[] = [
    { components: 'etcd', to: 'v3.6.5', hosts: ['m1', 'w1'].map((host) => ({ host, from: 'v3.5.21' })), how: 'one member at a time, each healthy before the next' },
    { components: 'kubelet, kube-proxy', to: 'v1.36.0', hosts: [{ host: 'w1', from: 'v1.35.0' }], how: 'each node drained, 1 at a time, then uncordoned once Ready' },
  ];

  it('text: the steps in order after the hosts, before the phases; none without an upgrade', () => {
    const text = formatReport(planReport, undefined, steps).split('\n');
    const at = text.indexOf('== upgrade ==');
    expect(text.slice(at, at + 3)).toEqual([
      '== upgrade ==',
      'etcd v3.5.21 -> v3.6.5: m1, w1 (one member at a time, each healthy before the next)',
      'kubelet, kube-proxy v1.35.0 -> v1.36.0: w1 (each node drained, 1 at a time, then uncordoned once Ready)',
    ]);
    expect(at).toBeGreaterThan(text.indexOf('== hosts =='));
    expect(at).toBeLessThan(text.findIndex((l) => l.startsWith('== os')));
    expect(formatReport(planReport)).not.toContain('== upgrade ==');
  });

  it('JSON: the steps as given, an empty list without, both fitting the schema files', () => {
    const json = (s: readonly UpgradeStep[]) => (JSON.parse(reportJson(planReport, undefined, s)) as { upgrade: unknown }).upgrade;
    expect(json(steps)).toEqual(steps);
    expect(json([])).toEqual([]);
    expectFitsSchemaFile('plan', reportJson(planReport, undefined, steps));
    expectFitsSchemaFile('apply', reportJson(applyReport, undefined, steps));
  });
});

describe('runClosingLine', () => {
  it('says how the run ended, its total and each stage, as a terminal user reads it', () => {
    expect(runClosingLine({ ...planReport, hosts: hosts('changed') })).toBe('done in 1.5s — connect 1.2s · os 0.3s');
    expect(runClosingLine(applyReport)).toBe('failed after 2.0s — connect 1.0s · os 1.0s');
    const refused = { ...planReport, refused: [new SshError('m1', 'connect', 'no route', 'check the address')], stages: [{ name: 'connect', durationMs: 800 }], durationMs: 800 };
    expect(runClosingLine(refused)).toBe('refused after 0.8s — connect 0.8s');
  });
});
