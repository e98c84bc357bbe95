import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceResource } from '../../../src/engine/resource.js';
import { CHECK_MARKER, JOURNAL_MARKER, NOT_READY_MARKER, START_SLACK_SEC, startWithJournal } from '../../../src/engine/kinds/service.js';
import { parseUnitState } from '../../../src/engine/kinds/unit-state.js';
import { useTempDir } from '../../support/tmp.js';
import { diffOf, fakeSystemctl, fakeTools, observe, shRun, stepTexts } from '../support.js';

const state = (load: string, file: string, active: string) => `LoadState=${load} UnitFileState=${file} ActiveState=${active} `;

function svc(over: Partial<ServiceResource> = {}): ServiceResource {
  return { kind: 'service', name: 'kubelet', enabled: true, running: true, ...over };
}

describe('parseUnitState', () => {
  it('reads loaded, masked, enabled and active from systemctl show', () => {
    expect(parseUnitState(state('loaded', 'enabled', 'active'))).toEqual({ loaded: true, masked: false, enabled: true, disableable: true, active: true });
    expect(parseUnitState(state('masked', 'masked', 'inactive'))).toEqual({ loaded: true, masked: true, enabled: false, disableable: false, active: false });
    expect(parseUnitState('LoadState=not-found UnitFileState= ActiveState=inactive ')).toEqual({ loaded: false, masked: false, enabled: false, disableable: false, active: false });
    expect(parseUnitState('')).toEqual({ loaded: false, masked: false, enabled: false, disableable: false, active: false });
    expect(parseUnitState(state('loaded', 'static', 'activating'))).toMatchObject({ enabled: true, disableable: false, active: true });
  });

  it('never tries to disable a static unit (systemctl disable cannot, and the plan would never converge)', () => {
    expect(diffOf(svc({ enabled: false, running: undefined }), state('loaded', 'static', 'inactive'))).toBeUndefined();
    expect(diffOf(svc({ enabled: false, running: undefined }), state('loaded', 'enabled', 'inactive'))?.summary).toBe('disable kubelet');
  });
});

describe('service kind', () => {
  it('enables and starts a stopped, disabled service, starting it with its journal on failure', () => {
    const c = diffOf(svc(), state('loaded', 'disabled', 'inactive'));
    expect(c?.summary).toBe('enable and start kubelet');
    expect(stepTexts(c)).toEqual(['systemctl enable -- kubelet', startWithJournal('start', 'kubelet')]);
    expect(stepTexts(c)[1]).toContain(`echo '${JOURNAL_MARKER}'; journalctl -u kubelet -n 20`);
    expect(c?.stage).toBe('services');
  });

  it('has nothing to do for an enabled running service, or a static one', () => {
    expect(diffOf(svc(), state('loaded', 'enabled', 'active'))).toBeUndefined();
    expect(diffOf(svc(), state('loaded', 'static', 'active'))).toBeUndefined();
  });

  it('only starts an enabled service that is not running, and only enables a running one', () => {
    expect(stepTexts(diffOf(svc(), state('loaded', 'enabled', 'failed')))).toEqual([startWithJournal('start', 'kubelet')]);
    expect(diffOf(svc(), state('loaded', 'disabled', 'active'))?.summary).toBe('enable kubelet');
  });

  it('gives a start that waits for readiness the time of its wait, so the command carrying it outlives the wait', () => {
    const ready = { check: 'true', description: 'answers /readyz', timeoutSec: 180 };
    expect(diffOf(svc({ ready }), state('loaded', 'disabled', 'inactive'))?.timeoutSec).toBe(180 + START_SLACK_SEC);
    expect(diffOf(svc({ ready }), state('loaded', 'disabled', 'active'))?.timeoutSec).toBeUndefined();
  });

  it('unmasks a masked service before enabling it', () => {
    const c = diffOf(svc(), state('masked', 'masked', 'inactive'));
    expect(c?.summary).toBe('enable and start kubelet');
    expect(stepTexts(c)[0]).toBe('systemctl unmask -- kubelet && systemctl enable -- kubelet');
  });

  it('disables and stops a service that must be off', () => {
    const c = diffOf(svc({ name: 'firewalld', enabled: false, running: false }), state('loaded', 'enabled', 'active'));
    expect(c?.summary).toBe('disable and stop firewalld');
    expect(stepTexts(c)).toEqual(['systemctl disable -- firewalld', 'systemctl stop -- firewalld']);
  });

  it('leaves aspects the resource does not mention alone', () => {
    expect(diffOf(svc({ enabled: undefined }), state('loaded', 'disabled', 'active'))).toBeUndefined();
    expect(diffOf(svc({ running: undefined }), state('loaded', 'enabled', 'inactive'))).toBeUndefined();
  });

  it('accepts a missing unit only with ifPresent', () => {
    const missing = 'LoadState=not-found UnitFileState= ActiveState=inactive ';
    expect(diffOf(svc({ name: 'ufw', enabled: false, running: false, ifPresent: true }), missing)).toBeUndefined();
    expect(diffOf(svc({ ifPresent: true }), missing)).toBeUndefined();
    expect(diffOf(svc(), missing)?.summary).toBe('enable and start kubelet');
  });

  it('quotes odd unit names in its steps', () => {
    expect(stepTexts(diffOf(svc({ name: 'my unit', running: false }), state('loaded', 'disabled', 'inactive')))).toEqual(["systemctl enable -- 'my unit'"]);
  });

  describe('real probe against a fake systemctl', () => {
    const tmp = useTempDir();

    it('prints one line that parses back into the unit state', () => {
      const env = fakeTools(tmp(), { systemctl: fakeSystemctl({ kubelet: { load: 'loaded', file: 'disabled', active: 'active' } }) });
      const observed = observe(svc(), { env });
      expect(observed).toBe('LoadState=loaded UnitFileState=disabled ActiveState=active ');
      expect(diffOf(svc(), observed)?.summary).toBe('enable kubelet');
      expect(observe(svc({ name: 'containerd', ifPresent: true }), { env })).toBe('LoadState=not-found UnitFileState= ActiveState=inactive ');
    });

    it('start step prints the journal after the marker and keeps systemctl exit code', () => {
      const env = fakeTools(tmp(), { systemctl: 'echo "Job for $3 failed" >&2; exit 5', journalctl: 'echo "kubelet: bad flag --foo"' });
      const run = shRun(`(\n${startWithJournal('start', 'kubelet')}\n) 2>&1`, env);
      expect(run.code).toBe(5);
      expect(run.stdout).toBe(`Job for kubelet failed\n${JOURNAL_MARKER}\nkubelet: bad flag --foo\n`);
    });

    it('waits for readiness after the start, polling in the same command', () => {
      const flag = join(tmp(), 'ready-after');
      // Ready on the third poll: the check counts its calls in a file.
      const check = `n=$(cat ${flag} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${flag}; [ $n -ge 3 ]`;
      const env = fakeTools(tmp(), { systemctl: 'case "$1" in is-failed) exit 1;; *) exit 0;; esac' });
      const run = shRun(`(\n${startWithJournal('start', 'etcd', { check, description: 'answers health', timeoutSec: 10 })}\n) 2>&1`, env);
      expect(run.code).toBe(0);
      expect(readFileSync(flag, 'utf8').trim()).toBe('3');
    });

    it('gives up after the timeout with the reason, the check with its last exit code and output, and the journal', () => {
      const env = fakeTools(tmp(), { systemctl: 'case "$1" in is-failed) exit 1;; *) exit 0;; esac', journalctl: 'echo "etcd: waiting for peers"' });
      const check = "echo 'connection refused' >&2; exit 7";
      const run = shRun(`(\n${startWithJournal('restart', 'etcd', { check, description: 'answers health', timeoutSec: 1 })}\n) 2>&1`, env);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe(`${NOT_READY_MARKER} etcd is not ready after 1 s (answers health)\n${CHECK_MARKER} 7 ${check}\n  connection refused\n${JOURNAL_MARKER}\netcd: waiting for peers\n`);
    });

    it('stops at once when the check runs a command the host does not have (exit 127), instead of waiting out the timeout', () => {
      const env = fakeTools(tmp(), { systemctl: 'case "$1" in is-failed) exit 1;; *) exit 0;; esac', journalctl: 'echo "serving on :6443"' });
      const started = Date.now();
      const run = shRun(`(\n${startWithJournal('start', 'kube-apiserver', { check: 'no-such-curl -sf https://127.0.0.1:6443/readyz', description: 'answers /readyz', timeoutSec: 100 })}\n) 2>&1`, env);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(
        `${NOT_READY_MARKER} kube-apiserver cannot be checked: its readiness check (answers /readyz) runs a command this host does not have\n${CHECK_MARKER} 127 no-such-curl`,
      );
      expect(run.stdout).toMatch(/\n {2}.*no-such-curl: .*not found\n/);
    });

    it('stops waiting as soon as the unit fails', () => {
      const env = fakeTools(tmp(), { systemctl: 'case "$1" in is-failed) exit 0;; *) exit 0;; esac', journalctl: 'echo "bad certificate"' });
      const run = shRun(`(\n${startWithJournal('start', 'etcd', { check: 'false', description: 'answers health', timeoutSec: 100 })}\n) 2>&1`, env);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('etcd failed while kubestrap waited for it to be ready (answers health)');
    });
  });
});
