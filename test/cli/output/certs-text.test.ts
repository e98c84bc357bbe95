import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { certsJson, certsText, type CertsReport } from '../../../src/cli/output/certs-text.js';
import { HostError } from '../../../src/errors.js';
import { checkHost, checkLocal } from '../../../src/pki/check.js';
import { deployedScript, parseDeployed } from '../../../src/pki/deployed.js';
import { hostPkiFiles } from '../../../src/pki/host-layout.js';
import { PKI_PATHS } from '../../../src/components/paths.js';
import { storedPki } from '../../../src/pki/reconcile.js';
import { displayFilter } from '../../../src/printable.js';
import { shRun } from '../../engine/support.js';
import { hostHoldingPki, hostileCertificate, UNSAFE } from '../../pki/support.js';
import { useTempDir } from '../../support/tmp.js';

describe('certs check output: what a host holds, shown', () => {
  const tmp = useTempDir();

  /**
   * The report for a host (a folder standing for it, read by the real read script) whose kubelet
   * certificate is hostile, and for a host whose error quotes its output and the sudo password.
   */
  async function report(): Promise<CertsReport> {
    const { spec, store, host, root } = await hostHoldingPki(tmp());
    writeFileSync(join(root, PKI_PATHS.kubeletCert), await hostileCertificate());
    const files = hostPkiFiles(spec, host);
    const out = shRun(deployedScript(files).replaceAll('/etc/kubernetes', `${root}/etc/kubernetes`)).stdout;
    const now = new Date();
    const rows = checkHost(spec, host, storedPki(spec, store), parseDeployed(out, files), now, 30);
    const error = new HostError('m1', 'reading the PKI failed', { stderrTail: 'sudo: pw hunter2-lab \x1b]0;owned\x07\nall certificates valid' });
    return {
      storeDir: store.dir,
      local: checkLocal(storedPki(spec, store), store, now, 30),
      hosts: [
        { host: 'w1', address: '10.0.0.21', rows },
        { host: 'm1', address: '10.0.0.11', rows: [], error },
      ],
      days: 30,
      ok: false,
    };
  }

  const shown = displayFilter(['hunter2-lab']);

  it("escapes every control and bidi character of a host's certificate, and of a host's error, in text", async () => {
    const text = certsText(await report(), shown);
    expect(text).not.toMatch(UNSAFE);
    const row = text.split('\n').find((l) => l.includes(PKI_PATHS.kubeletCert))!;
    expect(row).toContain('CN=cn\\1B[2J\\1B[H\\0Dall certificates valid for more than 30 days and in place\\u202e\\x9b31m');
    expect(row).toContain('dns\\x1b[2J\\x1b[H\\x0dall certificates valid');
    expect(row).toMatch(/31m\\x0aall certificates valid for more than 30 days and in place,10\.0\.0\.21 +\d+ +no +differs from the local PKI$/);
    expect(text).toContain('sudo: pw ******** \\x1b]0;owned\\x07');
    // Lines of a host's own text stay inside its indented block; the verdict is the last line, and the command's.
    expect(text.split('\n').filter((l) => /^\S/.test(l))).toEqual([expect.stringMatching(/^local PKI \(/), 'w1 (10.0.0.21)', 'm1 (10.0.0.11)', expect.stringMatching(/^\d+ problems: /)]);
  });

  it('escapes them in JSON too, field by field, and redacts the password', async () => {
    const json = certsJson(await report(), shown);
    expect(json).not.toMatch(UNSAFE);
    expect(json).not.toContain('hunter2-lab');
    const parsed = JSON.parse(json) as { hosts: Array<{ files: Array<{ path: string; subject?: string; dnsNames: string[] }> }> };
    const cert = parsed.hosts[0]!.files.find((f) => f.path === PKI_PATHS.kubeletCert)!;
    expect(cert.subject).toContain('\\u202e\\x9b31m');
    expect(cert.dnsNames[0]).toMatch(/^dns\\x1b\[2J\\x1b\[H\\x0dall certificates valid/);
  });
});
