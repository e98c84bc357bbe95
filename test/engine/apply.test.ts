import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyChanges } from '../../src/engine/apply.js';
import { START_SLACK_SEC } from '../../src/engine/kinds/service.js';
import { SshError } from '../../src/errors.js';
import type { Change } from '../../src/engine/change.js';
import { planRestarts } from '../../src/engine/handlers.js';
import type { FileResource, LocalFileResource, Resource, ServiceResource } from '../../src/engine/resource.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import { useTempDir } from '../support/tmp.js';
import { debianCtx, diffOf, fakeTools, observe, shRun, shRunToOutput, shRunWithInput } from './support.js';

/**
 * A "remote" host that is this machine: scripts run with sh, with systemctl, journalctl and apt-get
 * replaced by fakes that log their arguments, and /var/lib/kubestrap moved into a temp folder.
 */
function localHost(root: string, tools: Record<string, string> = {}): RemoteHost & { log: () => string[] } {
  const logFile = join(root, 'calls.log');
  const logged = (name: string, body = '') => `echo "${name} $*" >> '${logFile}'\n${body}`;
  const env = fakeTools(root, {
    systemctl: logged('systemctl', tools.systemctl),
    journalctl: logged('journalctl', tools.journalctl),
    'apt-get': logged('apt-get', tools['apt-get']),
  });
  const stats = { handshakes: 1, execs: 0, sftpOps: 0, streamedBytes: 0 };
  return {
    name: 'local',
    stats,
    run: async (script, opts) => {
      stats.execs++;
      if (opts?.timeoutMs) writeFileSync(logFile, `timeout ${opts.timeoutMs}\n`, { flag: 'a' });
      return shRun(script.replaceAll('/var/lib/kubestrap', join(root, 'state')), env);
    },
    runWithInput: async (script, input) => {
      stats.execs++;
      return shRunWithInput(script.replaceAll('/var/lib/kubestrap', join(root, 'state')), input(), env);
    },
    runToOutput: async (script, out) => {
      stats.execs++;
      return shRunToOutput(script.replaceAll('/var/lib/kubestrap', join(root, 'state')), out, env);
    },
    putFile: async (path, content) => {
      stats.sftpOps++;
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
      writeFileSync(logFile, `put ${path}\n`, { flag: 'a' });
      return { written: true };
    },
    close: async () => undefined,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd().split('\n') : []),
  };
}

const file = (path: string, restarts: string[]): FileResource => ({ kind: 'file', path, content: 'x=1\n', mode: 0o644, owner: 'root', group: 'root', restarts });
const kubelet: ServiceResource = { kind: 'service', name: 'kubelet', enabled: true, running: true };
const DISABLED_RUNNING = 'LoadState=loaded UnitFileState=disabled ActiveState=active';
/** `systemctl is-active -- UNIT...` as the real one answers: a state per unit, in order (these inactive, the rest active). */
const IS_ACTIVE = (...inactive: string[]) =>
  `if [ "$1" = is-active ]; then shift; [ "$1" = -- ] && shift; for u; do case " ${inactive.join(' ')} " in *" $u "*) echo inactive ;; *) echo active ;; esac; done; exit 0; fi`;

describe('applyChanges on a local stand-in host', () => {
  const tmp = useTempDir();

  function scenario() {
    const config = join(tmp(), 'etc', 'kubelet.conf');
    const resources: Resource[] = [file(config, ['kubelet']), kubelet];
    // A unit file would set reloadsSystemd; this file lives in a temp folder, so say it here.
    const changes: Change[] = [{ ...diffOf(resources[0]!, 'absent')!, reloadsSystemd: true }, diffOf(kubelet, DISABLED_RUNNING)!];
    return { config, resources, changes, plan: planRestarts(resources, changes, []) };
  }

  it('records the debt, writes files, reloads systemd, changes services, restarts, then clears the debt', async () => {
    const host = localHost(tmp());
    const { config, changes, plan } = scenario();
    expect(plan).toEqual({ restarts: [{ service: 'kubelet', because: [config], managed: true }], deferred: [], settled: [] });
    const outcome = await applyChanges(host, changes, plan);
    expect(outcome).toEqual({ applied: changes, restarted: ['kubelet'] });
    expect(host.log()).toEqual([`put ${config}`, 'systemctl daemon-reload', 'systemctl enable -- kubelet', 'systemctl restart -- kubelet']);
    expect(readFileSync(config, 'utf8')).toBe('x=1\n');
    expect(existsSync(join(tmp(), 'state', 'pending-restarts'))).toBe(false);
    // Scripts travel together: one command before the upload, one after it.
    expect(host.stats).toMatchObject({ execs: 2, sftpOps: 1 });
  });

  it('restarts a service it does not manage only where it is installed and running, and passes where it is not installed', async () => {
    // systemctl as on a host without etcd.service: not active, and a restart fails as the real one does.
    const host = localHost(tmp(), {
      systemctl: `${IS_ACTIVE('etcd')}; for unit; do :; done; [ "$1" = restart ] && [ "$unit" = etcd ] && { echo "Failed to restart etcd.service: Unit etcd.service not found." >&2; exit 5; }; exit 0`,
    });
    const certs = join(tmp(), 'etc', 'ca.crt');
    const resources: Resource[] = [file(certs, ['etcd', 'kube-apiserver'])];
    const changes = [diffOf(resources[0]!, 'absent')!];
    const plan = planRestarts(resources, changes, []);
    expect(plan.restarts.map((r) => [r.service, r.managed])).toEqual([
      ['etcd', false],
      ['kube-apiserver', false],
    ]);
    const outcome = await applyChanges(host, changes, plan);
    expect(outcome.failure).toBeUndefined();
    // One question for both, then the restart of the one that runs.
    expect(host.log()).toEqual([`put ${certs}`, 'systemctl is-active -- etcd kube-apiserver', 'systemctl restart -- kube-apiserver']);
  });

  it('reloads, instead of restarting, a service that takes changed inputs that way (haproxy)', async () => {
    const host = localHost(tmp());
    const config = join(tmp(), 'etc', 'haproxy.cfg');
    const haproxy: ServiceResource = { kind: 'service', name: 'haproxy', enabled: true, running: true, reloads: true };
    const resources: Resource[] = [file(config, ['haproxy']), haproxy];
    const changes = [diffOf(resources[0]!, 'absent')!];
    const plan = planRestarts(resources, changes, []);
    expect(plan.restarts).toEqual([{ service: 'haproxy', because: [config], managed: true, reload: true }]);
    expect(await applyChanges(host, changes, plan)).toEqual({ applied: changes, restarted: ['haproxy'] });
    expect(host.log()).toEqual([`put ${config}`, 'systemctl reload -- haproxy']);
  });

  it('stops at the first failing step, reports it, and leaves the restart owed', async () => {
    const host = localHost(tmp(), { systemctl: '[ "$1" = enable ] && { echo "Failed to enable unit: Unit file kubelet.service does not exist." >&2; exit 1; }; exit 0' });
    const { changes, plan } = scenario();
    const outcome = await applyChanges(host, changes, plan);
    expect(outcome.applied).toEqual([changes[0]]);
    expect(outcome.restarted).toEqual([]);
    expect(outcome.failure?.details).toEqual({
      resource: 'service:kubelet',
      command: 'systemctl enable -- kubelet',
      exitCode: 1,
      stderrTail: 'Failed to enable unit: Unit file kubelet.service does not exist.',
    });
    expect(outcome.failure?.message).toBe('enable kubelet: failed');
    expect(host.log()).not.toContain('systemctl restart -- kubelet');
    expect(readFileSync(join(tmp(), 'state', 'pending-restarts'), 'utf8')).toBe('kubelet\n');
  });

  it('shows the journal of a service that fails to restart apart from its stderr', async () => {
    const host = localHost(tmp(), {
      systemctl: '[ "$1" = restart ] && { echo "Job for kubelet.service failed." >&2; exit 1; }; exit 0',
      journalctl: 'echo "kubelet[42]: unknown flag: --foo"',
    });
    const { changes, plan } = scenario();
    const outcome = await applyChanges(host, changes, plan);
    expect(outcome.applied).toEqual(changes);
    expect(outcome.failure?.details).toMatchObject({ resource: 'restart kubelet', exitCode: 1, stderrTail: 'Job for kubelet.service failed.', journalTail: 'kubelet[42]: unknown flag: --foo' });
  });

  it("reports a service that is not ready by its unit, its readiness check, the check's last exit code and output, and its journal", async () => {
    const host = localHost(tmp(), { systemctl: '[ "$1" = is-failed ] && exit 1; exit 0', journalctl: 'echo "kube-apiserver[7]: serving securely on [::]:6443"' });
    // A command this machine lacks stands for a host without curl.
    const ready = { check: 'no-such-curl -sf --max-time 3 -o /dev/null https://127.0.0.1:6443/readyz', description: 'answers /readyz', timeoutSec: 1 };
    const apiserver: ServiceResource = { kind: 'service', name: 'kube-apiserver', enabled: true, running: true, ready };
    const change = diffOf(apiserver, 'LoadState=loaded UnitFileState=disabled ActiveState=inactive')!;
    // The host has no curl: the check fails at once with 127, whatever the timeout.
    const outcome = await applyChanges(host, [change], { restarts: [], deferred: [], settled: [] });
    expect(outcome.failure?.message).toBe('kube-apiserver cannot be checked: its readiness check (answers /readyz) runs a command this host does not have');
    expect(outcome.failure?.details).toMatchObject({ resource: 'service:kube-apiserver', command: ready.check, exitCode: 127, journalTail: 'kube-apiserver[7]: serving securely on [::]:6443' });
    expect(outcome.failure?.details.stderrTail).toMatch(/no-such-curl: .*not found/);
    // The command carrying the start gets the wait's time and more, not a command's usual limit.
    expect(host.log()[0]).toBe(`timeout ${(1 + START_SLACK_SEC) * 1000}`);
    expect(outcome.failure?.format()).toContain(`  command: ${ready.check}\n  exit code: 127\n`);
  });

  it('gives a restart that waits for readiness the time of its wait', async () => {
    const host = localHost(tmp());
    const ready = { check: 'true', description: 'answers /healthz', timeoutSec: 150 };
    const { changes } = scenario();
    const outcome = await applyChanges(host, [changes[0]!], { restarts: [{ service: 'kubelet', because: ['x'], managed: true, ready }], deferred: [], settled: [] });
    expect(outcome.failure).toBeUndefined();
    expect(host.log()).toContain(`timeout ${(150 + START_SLACK_SEC) * 1000}`);
  });

  it('names every step a command carried when the command as a whole fails (it timed out), not only its first', async () => {
    const host = localHost(tmp());
    host.run = async () => {
      throw new SshError('local', 'exec', 'command timed out after 2 min: printf', 'find out why it hangs');
    };
    const { changes } = scenario();
    const outcome = await applyChanges(host, [changes[1]!], { restarts: [{ service: 'kubelet', because: ['x'], managed: true }], deferred: [], settled: [] });
    expect(outcome.failure?.message).toBe('enable kubelet; restart kubelet; clear pending restarts (3 steps in one command): command timed out after 2 min: printf');
  });

  it('names the failing command of a multi-line step by its real command, not a preamble line', async () => {
    const host = localHost(tmp(), { 'apt-get': '[ "$1" = update ] && exit 0; echo "E: Unable to locate package iptables (frontend: $DEBIAN_FRONTEND)" >&2; exit 100' });
    const change = diffOf({ kind: 'package', names: ['iptables'] }, '', debianCtx)!;
    const outcome = await applyChanges(host, [change], { restarts: [], deferred: [], settled: [] });
    expect(outcome.failure?.details.exitCode).toBe(100);
    expect(outcome.failure?.details.command).toMatch(/^DEBIAN_FRONTEND=noninteractive apt-get install -y -q .* iptables \|\| /);
    expect(outcome.failure?.details.stderrTail).toBe('E: Unable to locate package iptables (frontend: noninteractive)\nE: Unable to locate package iptables (frontend: noninteractive)');
    // The command that carries a package install gets the install's own time limit.
    expect(host.log().map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['timeout 900000', 'apt-get install', 'apt-get update', 'apt-get install']);
    expect(outcome.failure?.hint).toBe('check that the host reaches its package repositories (or a local mirror)');
  });
});

describe('applyChanges: scripts and uploads in one command', () => {
  const tmp = useTempDir();

  /** A binary on the controller, to install at `bin/<name>` under the host's root; it restarts kubelet (not managed here). */
  function binary(name: string, bytes: number, declaredSize = bytes): { resource: LocalFileResource; data: Buffer } {
    const data = Buffer.alloc(bytes, `${name} `);
    const local = join(tmp(), `${name}.local`);
    writeFileSync(local, data);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const resource: LocalFileResource = {
      kind: 'localFile',
      path: join(tmp(), 'host', 'bin', name),
      mode: 0o755,
      owner: 'root',
      group: 'root',
      restarts: ['kubelet'],
      record: { component: name },
      label: name,
      source: { sha256, size: declaredSize, transfer: { codec: 'none', file: local, bytes: statSync(local).size } },
    };
    return { resource, data };
  }

  function changesOf(resources: Resource[]): Change[] {
    const edit = (script: string) => script.replaceAll('/var/lib/kubestrap', join(tmp(), 'state'));
    return resources.map((r) => diffOf(r, observe(r, { edit }))!);
  }

  it('records the debt, installs the files, restarts and clears the debt in one command', async () => {
    const host = localHost(tmp(), { systemctl: IS_ACTIVE() });
    const files = [binary('kubelet', 300_000), binary('kube-proxy', 70_000)];
    const resources = files.map((f) => f.resource);
    const changes = changesOf(resources);
    const outcome = await applyChanges(host, changes, planRestarts(resources, changes, []));
    expect(outcome).toEqual({ applied: changes, restarted: ['kubelet'] });
    for (const { resource, data } of files) expect(readFileSync(resource.path).equals(data)).toBe(true);
    expect(host.log()).toEqual(['systemctl is-active -- kubelet', 'systemctl restart -- kubelet']);
    expect(existsSync(join(tmp(), 'state', 'pending-restarts'))).toBe(false);
    expect(host.stats.execs).toBe(1);
  });

  it('fails an upload step as a whole, naming the local file that changed length; nothing after it runs', async () => {
    const host = localHost(tmp());
    const good = binary('kubelet', 300_000);
    const short = binary('kube-proxy', 70_000, 70_005);
    const resources = [good.resource, short.resource];
    const changes = changesOf(resources);
    const outcome = await applyChanges(host, changes, planRestarts(resources, changes, []));
    expect(outcome.applied).toEqual([]);
    expect(outcome.failure?.details).toMatchObject({ resource: `file:${short.resource.path}` });
    expect(outcome.failure?.message).toContain(`${short.resource.path} failed: ${short.resource.path}: the local file ${short.resource.source.transfer.file} gave 70000 of 70005 bytes`);
    expect(existsSync(good.resource.path)).toBe(false);
    expect(host.log()).toEqual([]);
    expect(readFileSync(join(tmp(), 'state', 'pending-restarts'), 'utf8')).toBe('kubelet\n');
  });

  it('starts a new command for files after a script, since an upload reads its input to the end', async () => {
    const host = localHost(tmp());
    const first = binary('kubelet', 200_000);
    const second = binary('kube-proxy', 50_000);
    const changes = [...changesOf([first.resource]), diffOf({ kind: 'package', names: ['iptables'] }, '', debianCtx)!, ...changesOf([second.resource])];
    const outcome = await applyChanges(host, changes, { restarts: [], deferred: [], settled: [] });
    expect(outcome).toEqual({ applied: changes, restarted: [] });
    for (const { resource, data } of [first, second]) expect(readFileSync(resource.path).equals(data)).toBe(true);
    expect(host.stats.execs).toBe(2);
  });

  it('stops at a failing script before the files: they are never read, and the command ends', async () => {
    const host = localHost(tmp(), { 'apt-get': 'echo "E: Unable to locate package iptables" >&2; exit 100' });
    const kubelet = binary('kubelet', 3_000_000);
    const changes = [diffOf({ kind: 'package', names: ['iptables'] }, '', debianCtx)!, ...changesOf([kubelet.resource])];
    const outcome = await applyChanges(host, changes, { restarts: [], deferred: [], settled: [] });
    expect(outcome.applied).toEqual([]);
    expect(outcome.failure?.details).toMatchObject({ resource: 'package:iptables', exitCode: 100 });
    expect(existsSync(kubelet.resource.path)).toBe(false);
    expect(host.stats.execs).toBe(1);
  });
});
