import { createWriteStream, existsSync, rmSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import pLimit from 'p-limit';
import { ArtifactError, BundleError, type KubestrapError, type Warning } from '../errors.js';
import { discard } from '../fresh-file.js';
import {
  artifactSources,
  BINARIES,
  provides,
  type Arch,
  type ArtifactSource,
  type BinaryName,
  type DownloadBases,
  type Project,
  type ProjectVersions,
  type PublishedChecksum,
} from '../upstream/index.js';
import type { ArtifactCache } from './cache.js';
import { digestFromChecksumFile } from './checksum-file.js';
import { downloadTo, fetchText, type SizeLimit, type UrlOrigin } from './download.js';
import { importCommonJs } from '../common-js.js';
import { LIMITS, sizeText, type Limits } from './limits.js';
import type { ArtifactLock, Pin } from './lock.js';
import { entryKey, entryPath, type ArtifactEntry, type LoadedManifest } from './manifest.js';
import { meter, readChunks } from './meter.js';

/**
 * Turns "kubelet for amd64" into a local file whose sha256 is known and checked. The versions come
 * from the cluster's config, the places from upstream's catalog. In order of precedence:
 *   - the user's own manifest (`--artifacts-manifest`), for the entries it has;
 *   - an offline bundle (`--bundle`): everything from there, never the network; each file must
 *     match the bundle's manifest and the cluster's lock file (a bundle pins what the lock does not
 *     pin yet), and stay inside the bundle's folder; every missing or tampered file is reported at
 *     once;
 *   - the shared cache, when the cluster's lock file pins the binary and the cache holds it (no
 *     network, no hashing here: what is sent is hashed when it is sent, see ArtifactCache);
 *   - a download, checked against every checksum there is: kubestrap's pin, upstream's published
 *     checksum (which a mirror must then have too), the lock file's pin. Only where upstream
 *     publishes none is the first download pinned in the lock file, with a warning. A mismatch
 *     deletes the file and fails with URL, expected and actual digest. Archives are unpacked into
 *     the cache, each member hashed as it is written.
 */
export interface BinaryRequest {
  name: BinaryName;
  arch: Arch;
}

export interface ResolvedBinary {
  name: BinaryName;
  project: Project;
  version: string;
  arch: Arch;
  sha256: string;
  size: number;
  /** Local file with exactly these bytes (in the cache, the bundle or next to the user's manifest). */
  file: string;
}

export interface DownloadProgress {
  started(url: string, bytes: number | undefined): void;
  advanced(bytes: number): void;
  finished(url: string): void;
}

export interface ResolveContext {
  cache: ArtifactCache;
  lock: ArtifactLock;
  versions: ProjectVersions;
  bases: DownloadBases;
  /** Offline: binaries come from this bundle and nowhere else. */
  bundle?: LoadedManifest;
  /** The user's own builds, preferred over every other source for the entries they list. */
  manifest?: LoadedManifest;
  progress?: DownloadProgress;
  /** Things the user should know, e.g. a checksum pinned on first download, a plain-HTTP mirror. */
  warn(warning: Warning): void;
  /** Downloads at once (default 4). */
  concurrency?: number;
  /** Other size limits than kubestrap's (see limits.ts), e.g. smaller ones in tests. */
  limits?: Partial<Limits>;
}

export type ResolvedBinaries = ReadonlyMap<string, ResolvedBinary>;

export function binaryKey(name: BinaryName, version: string, arch: Arch): string {
  return entryKey({ component: name, version, arch });
}

export function resolvedKey(name: BinaryName, arch: Arch): string {
  return `${name}/${arch}`;
}

export async function resolveBinaries(given: ResolveContext, requests: readonly BinaryRequest[]): Promise<ResolvedBinaries> {
  given.cache.checkPrivate();
  given.cache.sweepLeftovers();
  const ctx: ResolveContext = { ...given, warn: onceEach(given.warn) };
  const wanted = dedupe(requests);
  const out = new Map<string, ResolvedBinary>();
  const problems: KubestrapError[] = [];
  const rest: BinaryRequest[] = [];

  // Local entries (user manifest files, bundle) are hashed in parallel; their problems collected.
  const limit = pLimit(ctx.concurrency ?? 4);
  await Promise.all(
    wanted.map((req) =>
      limit(async () => {
        const version = ctx.versions[BINARIES[req.name].project].tag;
        const key = binaryKey(req.name, version, req.arch);
        const fromManifest = ctx.manifest && findEntry(ctx.manifest, key);
        const source = fromManifest ? { loaded: ctx.manifest!, entry: fromManifest } : ctx.bundle ? { loaded: ctx.bundle, entry: findEntry(ctx.bundle, key) } : undefined;
        if (!source) return rest.push(req);
        if (!source.entry) return problems.push(missing(source.loaded, key));
        try {
          const got = await fromEntry(ctx, source.loaded, source.entry, req, version);
          if (source.loaded === ctx.bundle) checkBundleAgainstLock(ctx, source.loaded, key, got);
          out.set(resolvedKey(req.name, req.arch), got);
        } catch (err) {
          if (err instanceof BundleError || err instanceof ArtifactError) problems.push(err);
          else throw err;
        }
      }),
    ),
  );
  if (problems.length) throw incomplete(ctx, problems);

  const groups = await Promise.all([...groupByProject(rest)].map(([group, names]) => limit(() => resolveGroup(ctx, group, names))));
  for (const b of groups.flat()) out.set(resolvedKey(b.name, b.arch), b);
  ctx.lock.save();
  return out;
}

/** Each warning once per resolve, however many downloads give cause for it. */
function onceEach(warn: (w: Warning) => void): (w: Warning) => void {
  const said = new Set<string>();
  return (w) => {
    const key = `${w.where}\n${w.message}`;
    if (said.has(key)) return;
    said.add(key);
    warn(w);
  };
}

function dedupe(requests: readonly BinaryRequest[]): BinaryRequest[] {
  const seen = new Map<string, BinaryRequest>();
  for (const r of requests) seen.set(resolvedKey(r.name, r.arch), r);
  return [...seen.values()];
}

function findEntry(loaded: LoadedManifest, key: string): ArtifactEntry | undefined {
  return loaded.manifest.artifacts.find((e) => e.kind === 'binary' && entryKey(e) === key);
}

function missing(loaded: LoadedManifest, key: string): BundleError {
  return new BundleError(loaded.file, `has no ${key}`, undefined);
}

/** All of a bundle's problems in one error, with how to make the bundle complete. */
function incomplete(ctx: ResolveContext, problems: KubestrapError[]): BundleError {
  const file = ctx.bundle?.file ?? ctx.manifest?.file ?? 'manifest';
  const lines = problems.map((p) => `  - ${p.message}${p.where() && p.where() !== file ? ` (${p.where()})` : ''}${p.hint ? `\n    fix: ${p.hint}` : ''}`);
  const hint = ctx.bundle
    ? 'complete the bundle: run `bootstrap bundle create --out DIR -c config.properties --arch <arches>` with this config on a machine with internet access, then copy DIR here'
    : 'fix the entries of your artifact manifest (each needs its file or url and the sha256 of its bytes)';
  return new BundleError(file, `${problems.length} artifact${problems.length === 1 ? '' : 's'} missing or not as recorded:\n${lines.join('\n')}`, hint);
}

async function fromEntry(ctx: ResolveContext, loaded: LoadedManifest, entry: ArtifactEntry, req: BinaryRequest, version: string): Promise<ResolvedBinary> {
  const project = BINARIES[req.name].project;
  const base = { name: req.name, project, version, arch: req.arch };
  const path = entryPath(loaded, entry);
  if (path !== undefined) {
    if (!existsSync(path)) throw new BundleError(path, `${entry.file} is missing (listed for ${entryKey(entry)})`);
    const actual = await ctx.cache.hashOf(path);
    if (actual.sha256 !== entry.sha256) {
      throw new BundleError(path, `${entry.file} has sha256 ${actual.sha256}, but the manifest says ${entry.sha256} (${entryKey(entry)}): the file was changed or damaged`);
    }
    return { ...base, sha256: actual.sha256, size: actual.size, file: path };
  }
  // A URL in the user's manifest: downloaded into the cache, checked against the manifest's sha256.
  const url = entry.url!;
  if (!ctx.cache.has(entry.sha256)) {
    const limit = entry.size === undefined ? downloadLimit(ctx) : { bytes: entry.size, why: `the size ${loaded.file} gives` };
    await download(ctx, url, { property: '--artifacts-manifest', value: loaded.file }, [{ algorithm: 'sha256', hex: entry.sha256, why: `listed in ${loaded.file}` }], limit);
  }
  const file = ctx.cache.blobPath(entry.sha256);
  return { ...base, sha256: entry.sha256, size: statSync(file).size, file };
}

/**
 * A bundle's binary must be the one the cluster's lock file pins, as a download must: a bundle
 * made elsewhere, or changed along with its manifest, cannot swap what the cluster runs. What the
 * lock does not pin yet, the bundle pins.
 */
function checkBundleAgainstLock(ctx: ResolveContext, bundle: LoadedManifest, key: string, got: ResolvedBinary): void {
  const pin = ctx.lock.binary(key);
  if (!pin) {
    ctx.lock.pinBinary(key, { sha256: got.sha256, size: got.size, checkedBy: 'manifest', from: bundle.file });
    return;
  }
  if (pin.sha256 === got.sha256) return;
  throw new BundleError(
    got.file,
    `${got.file} (${key}) has sha256 ${got.sha256}, as the bundle's manifest says, but the cluster's lock file ${ctx.lock.file} pinned ${pin.sha256} (from ${pin.from})`,
    `the bundle holds other bytes than the ones this cluster was set up with: use a bundle made from the pinned files, or, if you trust this bundle's, delete the entry "${key}" from ${ctx.lock.file}`,
  );
}

interface Group {
  project: Project;
  arch: Arch;
}

function groupByProject(reqs: readonly BinaryRequest[]): Map<Group, BinaryName[]> {
  const groups = new Map<string, { group: Group; names: BinaryName[] }>();
  for (const r of reqs) {
    const project = BINARIES[r.name].project;
    const key = `${project}/${r.arch}`;
    const g = groups.get(key) ?? { group: { project, arch: r.arch }, names: [] };
    g.names.push(r.name);
    groups.set(key, g);
  }
  return new Map([...groups.values()].map((g) => [g.group, g.names]));
}

/** One project's binaries for one arch: from the cache when the lock pins them, else downloaded. */
async function resolveGroup(ctx: ResolveContext, group: Group, names: BinaryName[]): Promise<ResolvedBinary[]> {
  const version = ctx.versions[group.project];
  const resolved = (name: BinaryName, pin: { sha256: string; size: number }): ResolvedBinary => ({
    name,
    project: group.project,
    version: version.tag,
    arch: group.arch,
    sha256: pin.sha256,
    size: pin.size,
    file: ctx.cache.blobPath(pin.sha256),
  });
  const pinned = names.map((n) => ctx.lock.binary(binaryKey(n, version.tag, group.arch)));
  if (pinned.every((p) => p && ctx.cache.has(p.sha256))) return names.map((n, i) => resolved(n, pinned[i]!));

  const sources = artifactSources({ project: group.project, version, arch: group.arch, binaries: names, bases: ctx.bases });
  const out: ResolvedBinary[] = [];
  for (const source of sources) {
    const sourceKey = downloadKey(group, version.tag, source);
    const blob = await ensureSource(ctx, source, sourceKey);
    const members: Members = source.layout.kind === 'file' ? { [source.layout.binary]: blob } : await extract(ctx, source, blob.sha256);
    for (const name of provides(source).filter((n) => names.includes(n))) {
      const got = members[name]!;
      const key = binaryKey(name, version.tag, group.arch);
      const pin = ctx.lock.binary(key);
      if (pin && pin.sha256 !== got.sha256) {
        throw new ArtifactError(
          source.url,
          `${key} from ${source.url} has sha256 ${got.sha256}, but the cluster's lock file pinned ${pin.sha256}`,
          `upstream (or the mirror) now serves other bytes under this name; if you trust them, delete the entry "${key}" from ${ctx.lock.file}`,
        );
      }
      if (!pin) ctx.lock.pinBinary(key, { sha256: got.sha256, size: got.size, checkedBy: 'archive', from: sourceKey });
      out.push(resolved(name, got));
    }
  }
  return out;
}

/** The lock file's name for a download: project, version, arch and file name, not the base URL. */
function downloadKey(group: Group, version: string, source: ArtifactSource): string {
  return `${group.project} ${version} linux/${group.arch} ${source.url.split('/').at(-1)}`;
}

interface Expected {
  algorithm: 'sha256' | 'sha512';
  hex: string;
  why: string;
}

function limitsOf(ctx: ResolveContext): Limits {
  return { ...LIMITS, ...ctx.limits };
}

function downloadLimit(ctx: ResolveContext): SizeLimit {
  return { bytes: limitsOf(ctx).download, why: "kubestrap's limit for a download" };
}

/** The download in the cache, checked; fetched if the cache does not have it. */
async function ensureSource(ctx: ResolveContext, source: ArtifactSource, key: string): Promise<{ sha256: string; size: number }> {
  const pin = ctx.lock.download(key);
  if (pin && ctx.cache.has(pin.sha256)) return pin;
  if (source.pinned) {
    const cached = await ctx.cache.bySecondaryDigest(source.pinned.algorithm, source.pinned.hex);
    if (cached) return pinDownload(ctx, key, source, cached, 'kubestrap');
  }
  const origin: UrlOrigin = { property: source.base, value: ctx.bases[source.base] };
  const expected: Expected[] = [];
  if (source.pinned) expected.push({ algorithm: source.pinned.algorithm, hex: source.pinned.hex, why: `pinned in kubestrap from ${source.pinned.from}` });
  if (pin) expected.push({ algorithm: 'sha256', hex: pin.sha256, why: `pinned in ${ctx.lock.file}` });
  if (source.published) {
    const published = await publishedDigest(ctx, source, source.published, origin, expected.length > 0);
    if (published) expected.push(published);
  }
  const limit = pin ? { bytes: pin.size, why: `the size pinned in ${ctx.lock.file}` } : downloadLimit(ctx);
  const sha256 = await download(ctx, source.url, origin, expected, limit);
  const checkedBy: Pin['checkedBy'] = source.pinned ? 'kubestrap' : expected.some((e) => e.why.startsWith('published')) ? 'upstream' : pin ? pin.checkedBy : 'first-download';
  if (checkedBy === 'first-download') {
    ctx.warn({
      where: key,
      message: `upstream publishes no checksum for ${source.url}; its sha256 ${sha256} was pinned in ${ctx.lock.file} on this first download, and every later use must match it`,
      hint: "compare that sha256 with one you trust (the project's release page, a download on another machine)",
    });
  }
  return pinDownload(ctx, key, source, sha256, checkedBy);
}

/**
 * The digest upstream publishes for a download. Where upstream publishes one, a mirror must have
 * it too: its absence would otherwise turn the check into trust on first use. It may be missing
 * only when a pin (kubestrap's, the lock file's) already checks the exact bytes.
 */
async function publishedDigest(ctx: ResolveContext, source: ArtifactSource, published: PublishedChecksum, origin: UrlOrigin, pinned: boolean): Promise<Expected | undefined> {
  warnPlainHttp(ctx, published.url, origin);
  const text = await fetchText(published.url, origin, { bytes: limitsOf(ctx).document, why: "kubestrap's limit for a checksum file" });
  if (text === undefined) {
    if (pinned) return undefined;
    throw new ArtifactError(
      published.url,
      `${published.url} does not exist (HTTP 404), but upstream publishes the checksum of ${published.entry} there: without it ${source.url} cannot be checked`,
      `copy upstream's checksum file to the mirror next to the download (${origin.property} is now ${origin.value}), or give the binaries with --artifacts-manifest and their sha256`,
    );
  }
  const hex = digestFromChecksumFile(text, published.entry, published.algorithm === 'sha256' ? 64 : 128);
  if (!hex) throw new ArtifactError(published.url, `${published.url} lists no checksum for ${published.entry}`, `check ${source.base} (now ${origin.value}): the mirror may serve another file there`);
  return { algorithm: published.algorithm, hex, why: `published at ${published.url}` };
}

/** Over plain HTTP, anyone on the way can change a download and the checksum file beside it alike. */
function warnPlainHttp(ctx: ResolveContext, url: string, origin: UrlOrigin): void {
  if (!url.startsWith('http://')) return;
  ctx.warn({
    where: origin.property,
    message: `${new URL(url).origin} is plain HTTP: whoever is on the way can change what is downloaded from it, checksum files included`,
    hint: "use an https:// mirror; only pins (kubestrap's, the cluster's lock file) still hold then",
  });
}

function pinDownload(ctx: ResolveContext, key: string, source: ArtifactSource, sha256: string, checkedBy: Pin['checkedBy']): { sha256: string; size: number } {
  const size = statSync(ctx.cache.blobPath(sha256)).size;
  if (!ctx.lock.download(key)) ctx.lock.pinDownload(key, { sha256, size, checkedBy, from: source.url });
  return { sha256, size };
}

/** Downloads into the cache, checked against every expectation; returns the sha256. Nothing is left behind on failure. */
async function download(ctx: ResolveContext, url: string, origin: UrlOrigin, expected: Expected[], limit: SizeLimit): Promise<string> {
  warnPlainHttp(ctx, url, origin);
  const temp = ctx.cache.tempPath();
  let started = false;
  const onStart = (bytes: number | undefined) => {
    started = true;
    ctx.progress?.started(url, bytes);
  };
  const got = await downloadTo(url, temp, origin, limit, { onStart, onBytes: (n) => ctx.progress?.advanced(n) }).finally(() => {
    if (started) ctx.progress?.finished(url);
  });
  for (const e of expected) {
    const actual = e.algorithm === 'sha256' ? got.sha256 : got.sha512;
    if (actual !== e.hex) {
      rmSync(temp, { force: true });
      throw new ArtifactError(
        url,
        `checksum mismatch for ${url}: expected ${e.algorithm} ${e.hex} (${e.why}), got ${actual}; the download was deleted`,
        `the file was corrupted or replaced on the way, or ${origin.property} (now ${origin.value}) points at a mirror serving other bytes; re-run to download again`,
      );
    }
  }
  ctx.cache.adopt(temp, got.sha256);
  for (const e of expected) ctx.cache.rememberDigest(e.algorithm, e.hex, got.sha256);
  return got.sha256;
}

/** Binaries unpacked from a download: name -> sha256 and size. */
type Members = Partial<Record<BinaryName, { sha256: string; size: number }>>;

/**
 * The wanted binaries of a downloaded .tar.gz, unpacked into the cache, each hashed as it is
 * written. The archive itself is hashed as it is read (it must still be the download that was
 * checked), and neither a member nor the whole may expand past its limit (see limits.ts).
 */
async function extract(ctx: ResolveContext, source: ArtifactSource, archive: string): Promise<Members> {
  if (source.layout.kind !== 'tgz') throw new Error('not an archive');
  const wanted = new Map(Object.entries(source.layout.members).map(([name, path]) => [normalize(path), name as BinaryName]));
  const index: Members = {};
  const blob = ctx.cache.blobPath(archive);
  const tooLarge = (what: string) => (limit: number) =>
    new ArtifactError(source.url, `${source.url} ${what} more than ${sizeText(limit)}: not the archive upstream publishes`, `check ${source.base} (now ${ctx.bases[source.base]})`);
  const read = meter();
  const limits = limitsOf(ctx);
  const expanded = meter({ limit: limits.expanded, tooLarge: tooLarge('expands to'), algorithms: [] });
  // Members being written: a failure waits for each to remove its temp file.
  const writing = new Set<Promise<void>>();
  // Loaded here: only a download of a release archive needs it.
  const { extract: untar } = await importCommonJs(import('tar-stream'));
  const tar = untar();
  tar.on('entry', (header, stream, next) => {
    const name = wanted.get(normalize(header.name));
    if (!name || header.type !== 'file') {
      // A failure shows in the pipeline below; the skipped entry's own stream just ends with it.
      stream.on('error', () => undefined);
      stream.resume();
      stream.on('end', next);
      return;
    }
    const temp = ctx.cache.tempPath();
    const member = meter({ limit: limits.member, tooLarge: tooLarge(`holds ${header.name}, which is`) });
    const file = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
    const written = pipeline(stream, member.stream, file)
      .then(() => {
        const sha256 = member.hex('sha256');
        ctx.cache.adopt(temp, sha256);
        index[name] = { sha256, size: member.size() };
        next();
      })
      .catch(async (err: unknown) => {
        await discard(file, temp);
        next(err as Error);
      })
      .finally(() => writing.delete(written));
    writing.add(written);
  });
  try {
    await pipeline(readChunks(blob), read.stream, createGunzip(), expanded.stream, tar);
  } catch (err) {
    await Promise.allSettled([...writing]);
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError(
      source.url,
      `${source.url} cannot be unpacked: ${(err as Error).message}`,
      `the download is not a .tar.gz as upstream publishes it: check ${source.base} (now ${ctx.bases[source.base]})`,
    );
  }
  if (read.hex('sha256') !== archive) {
    rmSync(blob, { force: true });
    throw new ArtifactError(
      blob,
      `${blob} is not the download that was checked: it must hold sha256 ${archive}, but holds ${read.hex('sha256')}; it was deleted from the cache`,
      `re-run to download it again; if it happens again, find out what else writes ${ctx.cache.root}`,
    );
  }
  const absent = [...wanted.entries()].filter(([, name]) => !index[name]).map(([path]) => path);
  if (absent.length) {
    throw new ArtifactError(
      source.url,
      `${source.url} does not hold ${absent.join(', ')}`,
      `the archive's layout differs from what kubestrap expects: check ${source.base} and the version, or give the binaries with --artifacts-manifest`,
    );
  }
  return index;
}

function normalize(path: string): string {
  return path.replace(/^\.\//, '').replace(/^\/+/, '');
}
