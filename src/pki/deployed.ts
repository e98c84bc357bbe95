import { parseSections, sectionedScript } from '../engine/sections.js';
import { shq } from '../ssh/quote.js';
import type { HostPkiFile } from './host-layout.js';

/** What a host holds at one of its PKI paths, as `certs check` reads it. */
export interface DeployedFile {
  path: string;
  /** null: no such file. */
  sha256: string | null;
  /** The certificate in the file (a kubeconfig's client certificate); never a key. */
  certPem?: string;
}

/**
 * One command that reads a host's PKI files: the hash of each, and the certificate of each
 * certificate or kubeconfig. Keys never leave the host: their hash says whether they match.
 */
export function deployedScript(files: readonly HostPkiFile[]): string {
  return sectionedScript(
    files.map((f, i) => {
      const p = shq(f.path);
      const cert = f.content.kind === 'cert' ? `; cat ${p}` : f.content.kind === 'kubeconfig' ? `; sed -n 's/^ *client-certificate-data: *//p' ${p} | base64 -d` : '';
      return [`f${i}`, `if [ -f ${p} ]; then sha256sum < ${p} | cut -d' ' -f1${cert}; else echo absent; fi`] as const;
    }),
  );
}

export function parseDeployed(stdout: string, files: readonly HostPkiFile[]): DeployedFile[] {
  const sections = parseSections(stdout);
  return files.map((f, i) => {
    const body = sections.get(`f${i}`) ?? 'absent';
    const newline = body.indexOf('\n');
    const first = (newline < 0 ? body : body.slice(0, newline)).trim();
    if (first === 'absent' || first === '') return { path: f.path, sha256: null };
    const rest = newline < 0 ? '' : body.slice(newline + 1);
    return { path: f.path, sha256: first, ...(rest.includes('BEGIN CERTIFICATE') ? { certPem: rest } : {}) };
  });
}
