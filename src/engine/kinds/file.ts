import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { sharedDirGuard } from '../../ssh/put-file.js';
import { shJoin, shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { FileResource } from '../resource.js';
import { octal, parseOwnership, type Kind } from './kind.js';

export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** systemd reads these only after `daemon-reload`. */
export function isSystemdUnitPath(path: string): boolean {
  return /^\/(etc|lib|usr\/lib)\/systemd\/system\//.test(path);
}

/** A service's unit file or drop-in restarts that service when it changes, without saying so. */
export function serviceOfUnitPath(path: string): string | undefined {
  return /^\/(?:etc|lib|usr\/lib)\/systemd\/system\/([^/]+)\.service(?:\.d\/[^/]+\.conf)?$/.exec(path)?.[1];
}

/** A mode that gives group and others nothing: whoever chose it meant the content to stay private. */
export function isPrivateMode(mode: number): boolean {
  return (mode & 0o077) === 0;
}

const SUMS_MARKER = '@@kubestrap-sums';

export const fileKind: Kind<FileResource> = {
  // Two processes for all of a host's files: stat (type, mode, owner; a link is not followed) and
  // sha256sum. Each file's observed text: `absent`, `other` (not a regular file), or its
  // `mode owner group` line and its sha256 line.
  batch: {
    probe: (rs) => {
      const paths = rs.map((r) => shq(r.path)).join(' ');
      // LC_ALL=C: stat names the file type in the host's language otherwise.
      return `LC_ALL=C stat -c '%F|%a %U %G|%n' -- ${paths}; echo '${SUMS_MARKER}'; sha256sum -- ${paths}`;
    },
    split: (output, rs) => {
      const lines = output.split('\n');
      const marker = lines.indexOf(SUMS_MARKER);
      const stats = new Map<string, { type: string; ownership: string }>();
      for (const line of marker < 0 ? lines : lines.slice(0, marker)) {
        const m = /^([^|]*)\|([^|]*)\|(.*)$/.exec(line);
        if (m) stats.set(m[3]!, { type: m[1]!, ownership: m[2]! });
      }
      const sums = new Map<string, string>();
      for (const line of marker < 0 ? [] : lines.slice(marker + 1)) {
        // GNU sha256sum escapes a name holding a backslash or newline, and says so with a leading backslash.
        const m = /^(\\?)([0-9a-f]{64}) [ *](.*)$/.exec(line);
        if (m) sums.set(m[1] ? m[3]!.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\')) : m[3]!, m[2]!);
      }
      return rs.map((r) => {
        const stat = stats.get(r.path);
        if (!stat) return 'absent';
        if (stat.type !== 'regular file' && stat.type !== 'regular empty file') return 'other';
        return `${stat.ownership}\n${sums.get(r.path) ?? ''}`;
      });
    },
  },
  diff: (r, observed, id) => {
    const [first, second] = observed.split('\n');
    const desiredSha = sha256(r.content);
    const size = Buffer.byteLength(r.content);
    const own = serviceOfUnitPath(r.path);
    const common = { restarts: [...new Set([...(own ? [own] : []), ...r.restarts])], reloadsSystemd: isSystemdUnitPath(r.path) };
    const put = (currentSha256: string | null) => ({
      type: 'put' as const,
      path: r.path,
      content: r.content,
      mode: r.mode,
      owner: r.owner,
      group: r.group,
      currentSha256,
    });
    const current = parseOwnership(first);
    // Secret content is never fetched for a diff nor shown: the plan says that it changes, not what it holds.
    const secret = r.secret === true || isPrivateMode(r.mode) || (current !== undefined && isPrivateMode(current.mode));
    const diff = (currentSha256: string | null) => ({ path: r.path, currentSha256, desired: r.content, secret });

    if (first === 'absent' || first === 'other') {
      const what = first === 'absent' ? 'create' : 'replace (not a regular file)';
      return change(r, id, `${what} ${r.path} (${octal(r.mode)} ${r.owner}:${r.group}, ${size} bytes)`, [put(null)], { ...common, file: diff(null) });
    }
    const currentSha = (second ?? '').trim();
    if (currentSha !== desiredSha) {
      return change(r, id, `update ${r.path}`, [put(currentSha)], { ...common, file: diff(currentSha) });
    }
    if (!current || current.mode !== r.mode || current.owner !== r.owner || current.group !== r.group) {
      const was = current ? `${octal(current.mode)} ${current.owner}:${current.group}` : 'unknown';
      return change(
        r,
        id,
        `set ${r.path} to ${octal(r.mode)} ${r.owner}:${r.group} (was ${was})`,
        [
          // By name, so only in a folder no one else can change (see sharedDirGuard).
          script(`${sharedDirGuard(shq(posix.dirname(r.path)))} && ${shJoin(['chown', '--', `${r.owner}:${r.group}`, r.path])} && ${shJoin(['chmod', '--', octal(r.mode), r.path])}`),
        ],
        { ...common, failureHint: `if ${posix.dirname(r.path)} may be changed by others: chown root ${posix.dirname(r.path)} && chmod go-w ${posix.dirname(r.path)}` },
      );
    }
    return undefined;
  },
};
