import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clearPendingScript, PENDING_RESTARTS_FILE, recordPendingScript } from '../../src/engine/pending-restarts.js';
import { parseProbe, probeScript } from '../../src/engine/probe.js';
import { useTempDir } from '../support/tmp.js';
import { debianCtx, shRun } from './support.js';

describe('pending restarts, scripts run for real on a temp state folder', () => {
  const tmp = useTempDir();
  /** The scripts hard-code /var/lib/kubestrap; point them at a temp folder instead. */
  const stateDir = () => join(tmp(), 'var lib');
  const run = (script: string) => {
    expect(script).toContain('/var/lib/kubestrap');
    return shRun(script.replaceAll('/var/lib/kubestrap', `'${stateDir()}'`));
  };
  const file = () => join(stateDir(), 'pending-restarts');
  const pending = () => parseProbe(run(probeScript([], debianCtx)).stdout, []).pendingRestarts;

  it('keeps its file under /var/lib/kubestrap', () => {
    expect(PENDING_RESTARTS_FILE).toBe('/var/lib/kubestrap/pending-restarts');
  });

  it('reads no debt when there is none, and the probe still ends with status 0 (the debug log shows it)', () => {
    const probe = run(probeScript([], debianCtx));
    expect(probe.code).toBe(0);
    expect(parseProbe(probe.stdout, []).pendingRestarts).toEqual([]);
  });

  it('records services (creating the folder), appends on later runs, and the probe reads them once each', () => {
    expect(run(recordPendingScript(['kubelet', 'kube-proxy'])).code).toBe(0);
    expect(readFileSync(file(), 'utf8')).toBe('kubelet\nkube-proxy\n');
    expect(run(recordPendingScript(['kubelet', 'docker'])).code).toBe(0);
    expect(readFileSync(file(), 'utf8')).toBe('kubelet\nkube-proxy\nkubelet\ndocker\n');
    expect(pending()).toEqual(['kubelet', 'kube-proxy', 'docker']);
  });

  it('clears only the restarted services, by whole name, and removes the file when nothing is left', () => {
    run(recordPendingScript(['kubelet', 'kube-proxy', 'kube', 'kubelet']));
    expect(run(clearPendingScript(['kubelet', 'kube'])).code).toBe(0);
    expect(readFileSync(file(), 'utf8')).toBe('kube-proxy\n');
    expect(run(clearPendingScript(['kube-proxy'])).code).toBe(0);
    expect(existsSync(file())).toBe(false);
    expect(readdirSync(stateDir())).toEqual([]);
    expect(pending()).toEqual([]);
  });

  it('clearing without a file succeeds and creates nothing', () => {
    expect(run(clearPendingScript(['kubelet'])).code).toBe(0);
    expect(existsSync(stateDir())).toBe(false);
  });

  it('treats service names as text, not patterns', () => {
    run(recordPendingScript(['a.b', 'axb']));
    run(clearPendingScript(['a.b']));
    expect(readFileSync(file(), 'utf8')).toBe('axb\n');
  });
});
