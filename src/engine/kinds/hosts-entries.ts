import { sha256 } from './file.js';
import { change } from '../change.js';
import type { HostsEntriesResource } from '../resource.js';
import type { Kind } from './kind.js';
import { readFile } from '../shell-read.js';

export const HOSTS_BLOCK_BEGIN = '# BEGIN kubestrap cluster hosts (managed: edits inside this block are overwritten)';
export const HOSTS_BLOCK_END = '# END kubestrap cluster hosts';
const BEGIN = HOSTS_BLOCK_BEGIN;
const END = HOSTS_BLOCK_END;

/**
 * /etc/hosts with our block replaced (or appended); everything outside the block is kept. A BEGIN
 * line without its END (someone cut the block short) is dropped rather than taken as the start of a
 * block that would swallow the lines after it.
 */
export function withHostsBlock(current: string, entries: HostsEntriesResource['entries']): string {
  const block = [BEGIN, ...entries.map((e) => `${e.ip} ${e.names.join(' ')}`), END].join('\n');
  const lines = current.split('\n');
  const start = lines.indexOf(BEGIN);
  const end = lines.indexOf(END, start);
  if (start >= 0 && end > start) return [...lines.slice(0, start), block, ...lines.slice(end + 1)].join('\n');
  const kept = lines.filter((l) => l !== BEGIN && l !== END).join('\n');
  const base = kept === '' || kept.endsWith('\n') ? kept : `${kept}\n`;
  return `${base}${block}\n`;
}

export const hostsEntriesKind: Kind<HostsEntriesResource> = {
  // A trailing marker keeps the file's last newline visible after the section is trimmed.
  probe: () => `${readFile('/etc/hosts')}; echo '@@end'`,
  diff: (r, observed, id) => {
    const current = observed.replace(/@@end$/, '');
    const desired = withHostsBlock(current, r.entries);
    if (desired === current) return undefined;
    return change(
      r,
      id,
      `/etc/hosts: ${r.entries.length} cluster host entr${r.entries.length === 1 ? 'y' : 'ies'}`,
      [{ type: 'put', path: '/etc/hosts', content: desired, mode: 0o644, owner: 'root', group: 'root', currentSha256: sha256(current) }],
      { file: { path: '/etc/hosts', currentSha256: sha256(current), desired, secret: false } },
    );
  },
};
