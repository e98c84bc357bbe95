import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkLocal } from '../../src/pki/check.js';
import { deployedScript } from '../../src/pki/deployed.js';
import { hostPkiFiles } from '../../src/pki/host-layout.js';
import { PKI_PATHS } from '../../src/components/paths.js';
import { storedPki } from '../../src/pki/reconcile.js';
import { shRun } from '../engine/support.js';
import { useTempDir } from '../support/tmp.js';
import { hostHoldingPki } from './support.js';

describe('certs check, against a folder standing for a host', () => {
  const tmp = useTempDir();

  const setup = () => hostHoldingPki(tmp());

  it("reads each certificate (a kubeconfig's client certificate too) and finds every file as the local PKI makes it", async () => {
    const { read } = await setup();
    const rows = read();
    expect(rows.every((r) => r.matchesLocal && r.problems.length === 0)).toBe(true);
    expect(rows.find((r) => r.path === PKI_PATHS.kubeletConf)).toMatchObject({ name: 'kubelet-client/w1', subject: 'O=system:nodes, CN=system:node:w1', issuer: 'CN=kubernetes', daysLeft: 364 });
    expect(rows.find((r) => r.path === PKI_PATHS.kubeletCert)).toMatchObject({ dnsNames: ['w1'], ipAddresses: ['10.0.0.21'] });
    expect(rows.find((r) => r.path === PKI_PATHS.kubeletKey)!.subject).toBeUndefined();
  });

  it('reports a missing file, and a file that differs from the local PKI, without reading keys off the host', async () => {
    const { spec, host, root, read } = await setup();
    writeFileSync(join(root, PKI_PATHS.kubeletKey), 'not the key\n');
    shRun(`rm ${join(root, PKI_PATHS.kubeProxyConf)}`);
    const rows = read();
    expect(rows.filter((r) => r.problems.length).map((r) => [r.path, r.problems])).toEqual([
      [PKI_PATHS.kubeletKey, ['differs from the local PKI']],
      [PKI_PATHS.kubeProxyConf, ['missing on the host']],
    ]);
    expect(deployedScript(hostPkiFiles(spec, host))).not.toMatch(/cat [^;]*\.key/);
  });

  it('flags local certificates within the window, and missing ones', async () => {
    const { spec, store } = await setup();
    shRun(`rm ${store.pathOf('scheduler', 'certPem')}`);
    const rows = checkLocal(storedPki(spec, store), store, new Date(), 400);
    expect(rows.find((r) => r.name === 'scheduler')!.problems).toEqual(['missing: the next apply issues it']);
    expect(rows.find((r) => r.name === 'apiserver')!.problems).toEqual(['expires in 364 days']);
    expect(rows.find((r) => r.name === 'ca')!.problems).toEqual([]);
  });
});
