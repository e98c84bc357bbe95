import type { RemoteHost } from '../ssh/remote-host.js';
import { shq } from '../ssh/quote.js';
import type { Change } from './change.js';
import { parseSections, sectionedScript } from './sections.js';

/** Diffs are for people: skip secrets, binaries and files too large to read in a terminal. */
const MAX_DIFF_BYTES = 256 * 1024;

function diffable(c: Change): boolean {
  const f = c.file;
  if (!f || f.secret || f.currentSha256 === null) return false;
  const size = Buffer.byteLength(f.desired);
  return size <= MAX_DIFF_BYTES && !(typeof f.desired !== 'string' && f.desired.includes(0));
}

/**
 * The current content of the text files a plan changes, in one command, so the plan can print real
 * diffs. Only plan pays for this; apply needs nothing but the hashes it already has.
 */
export async function fetchCurrentContents(remote: RemoteHost, changes: readonly Change[]): Promise<Map<string, string | null>> {
  const paths = changes.filter(diffable).map((c) => c.file!.path);
  const contents = new Map<string, string | null>();
  for (const c of changes) if (c.file && c.file.currentSha256 === null) contents.set(c.file.path, null);
  if (paths.length === 0) return contents;
  const script = sectionedScript(paths.map((p, i) => [`f${i}`, `if [ -f ${shq(p)} ]; then base64 < ${shq(p)} | tr -d '\\n'; else echo absent; fi`] as const));
  const sections = parseSections((await remote.run(script)).stdout);
  paths.forEach((p, i) => {
    const body = (sections.get(`f${i}`) ?? '').trim();
    contents.set(p, body === 'absent' ? null : Buffer.from(body, 'base64').toString('utf8'));
  });
  return contents;
}
