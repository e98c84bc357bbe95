import { posix } from 'node:path';
import { sharedDirGuard } from '../../ssh/put-file.js';
import { shJoin, shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import { filesProbeSnippet, LOCAL_FILE_MARKER, recordFileScript, type RecordedUpload, type RecordFields } from '../host-record.js';
import type { LocalFileResource } from '../resource.js';
import { octal, parseOwnership, type Kind } from './kind.js';

/**
 * A large file from the controller (see LocalFileResource). Whether the host's copy is right comes
 * from kubestrap's record on the host when the file's size, mtime and ctime match it, so a no-op run
 * reads no file; only a file that changed since (or `verify`) is hashed. All of a host's files are
 * probed together, at the cost of two processes (see filesProbeSnippet).
 */
export const localFileKind: Kind<LocalFileResource> = {
  batch: {
    probe: (rs) => filesProbeSnippet(rs.map((r) => ({ path: r.path, fields: recordOf(r), verify: r.verify ?? false }))),
    // Each file's text follows its marker line, in the order of `rs`.
    split: (output, rs) =>
      output
        .split(`${LOCAL_FILE_MARKER}\n`)
        .slice(1, rs.length + 1)
        .map((text) => text.replace(/\n$/, '')),
  },

  diff: (r, observed, id) => {
    const [first = '', second = ''] = observed.split('\n');
    const what = r.label ? ` (${r.label})` : '';
    const common = { restarts: [...new Set(r.restarts)] };
    // Why it comes from where it does: said where it is sent, not where only its record changes.
    const why = r.why ? { detail: r.why } : {};
    const upload = { type: 'upload' as const, upload: uploadOf(r) };
    const size = formatBytes(r.source.size);

    if (first === 'absent' || first === 'other-type' || first === '') {
      const verb = first === 'other-type' ? 'replace (not a regular file)' : 'install';
      return change(r, id, `${verb} ${r.path}${what}, ${size}, ${octal(r.mode)} ${r.owner}:${r.group}`, [upload], { ...common, ...why });
    }
    const [how = '', current = '', vouched] = second.trim().split(/\s+/);
    if (how === 'other') return change(r, id, `update ${r.path}${what}, ${size}: kubestrap installed another version`, [upload], { ...common, ...why });
    if (how === 'hashed' && current !== r.source.sha256) {
      return change(r, id, `update ${r.path}${what}, ${size}: its content differs from the expected checksum (sha256 ${short(current)} -> ${short(r.source.sha256)})`, [upload], {
        ...common,
        detail: ['the file changed since kubestrap wrote it, or kubestrap has no record of it'],
      });
    }
    const unrecorded = how === 'hashed' && vouched !== 'recorded';
    const steps = [];
    const own = parseOwnership(first);
    const attributes = !own || own.mode !== r.mode || own.owner !== r.owner || own.group !== r.group;
    // By name, so only in a folder no one else can change (see sharedDirGuard).
    if (attributes)
      steps.push(script(`${sharedDirGuard(shq(posix.dirname(r.path)))} && ${shJoin(['chown', '--', `${r.owner}:${r.group}`, r.path])} && ${shJoin(['chmod', '--', octal(r.mode), r.path])}`));
    // Right content, but the record does not vouch for it (first run over a manual install, or
    // touched since), or chmod is about to change its ctime: record it, so that later runs need not
    // read it again.
    if (unrecorded || attributes) steps.push(script(recordFileScript(r.path, recordOf(r))));
    if (steps.length === 0) return undefined;
    const was = own ? `${octal(own.mode)} ${own.owner}:${own.group}` : 'unknown';
    const summary = attributes ? `set ${r.path} to ${octal(r.mode)} ${r.owner}:${r.group} (was ${was})` : `record ${r.path}${what} in kubestrap's host record (content already right)`;
    const hint = { failureHint: `if ${posix.dirname(r.path)} may be changed by others: chown root ${posix.dirname(r.path)} && chmod go-w ${posix.dirname(r.path)}` };
    return change(r, id, summary, steps, attributes ? { ...common, ...hint } : {});
  },
};

/** What the host's record holds for this file: its sha256 and the resource's own fields. */
function recordOf(r: LocalFileResource): RecordFields {
  return { sha256: r.source.sha256, ...r.record };
}

function uploadOf(r: LocalFileResource): RecordedUpload {
  return { path: r.path, mode: r.mode, owner: r.owner, group: r.group, size: r.source.size, sha256: r.source.sha256, transfer: r.source.transfer, record: r.record ?? {} };
}

function short(sha: string): string {
  return sha ? `${sha.slice(0, 12)}…` : 'unknown';
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}
