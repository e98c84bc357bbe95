import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, rmSync, statSync } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import pLimit from 'p-limit';
import { ArtifactError, BundleError, type KubestrapError } from '../errors.js';
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
} from '../upstream/index.js';
import { ArtifactCache, type ArchiveIndex } from './cache.js';
import { digestFromChecksumFile } from './checksum-file.js';
import { downloadTo, fetchText, type UrlOrigin } from './download.js';
import type { ArtifactLock, Pin } from './lock.js';
import { entryKey, entryPath, type ArtifactEntry, type LoadedManifest } from './manifest.js';

/**
 * Turns "kubelet for amd64" into a local file whose sha256 is known and checked. The versions come
 * from the cluster's config, the places from upstream's catalog. In order of precedence:
 *   - the user's own manifest (`--artifacts-manifest`), for the entries it has;
 *   - an offline bundle (`--bundle`): everything from there, never the network; every missing or
 *     tampered file is reported at once;
 *   - the shared cache, when the cluster's lock file pins the binary and the cache holds it (no
 *     network, no hashing);
 *   - a download, checked against every checksum there is: kubestrap's pin, upstream's published
 *     checksum, the lock file's pin. With none of them, the first download is pinned in the lock
 *     file (and the user told so). A mismatch deletes the file and fails with URL, expected and
 *     actual digest. Archives are unpacked once into the cache.
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
  /** Things the user should know, e.g. a checksum pinned on first download. */
  notice(message: string): void;
  /** Downloads at once (default 4). */
  concurrency?: number;
}

export type ResolvedBinaries = ReadonlyMap<string, ResolvedBinary>;

export function binaryKey(name: BinaryName, version: string, arch: Arch): string {
  return entryKey({ component: name, version, arch });
}

export function resolvedKey(name: BinaryName, arch: Arch): string {
  return `${name}/${arch}`;
}

export async function resolveBinaries(ctx: ResolveContext, requests: readonly BinaryRequest[]): Promise<ResolvedBinaries> {
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
          out.set(resolvedKey(req.name, req.arch), await fromEntry(ctx, source.loaded, source.entry, req, version));
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
  const lines = problems.map((p) => `  - ${p.message}${p.where() && p.where() !== file ? ` (${p.where()})` : ''}`);
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
    await download(ctx, url, { property: '--artifacts-manifest', value: loaded.file }, [{ algorithm: 'sha256', hex: entry.sha256, why: `listed in ${loaded.file}` }]);
  }
  const file = ctx.cache.blobPath(entry.sha256);
  return { ...base, sha256: entry.sha256, size: statSync(file).size, file };
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
    const members: ArchiveIndex = source.layout.kind === 'file' ? { [source.layout.binary]: blob } : await ensureExtracted(ctx, source, blob.sha256);
    for (const name of provides(source).filter((n) => names.includes(n))) {
      const got = members[name]!;
      const key = binaryKey(name, version.tag, group.arch);
      const pin = ctx.lock.binary(key);
      if (pin && pin.sha256 !== got.sha256) {
        throw new ArtifactError(source.url, `${key} from ${source.url} has sha256 ${got.sha256}, but the cluster's lock file pinned ${pin.sha256}`, `upstream (or the mirror) now serves other bytes under this name; if you trust them, delete the entry "${key}" from ${ctx.lock.file}`);
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

/** The download in the cache, checked; fetched if the cache does not have it. */
async function ensureSource(ctx: ResolveContext, source: ArtifactSource, key: string): Promise<{ sha256: string; size: number }> {
  const pin = ctx.lock.download(key);
  if (pin && ctx.cache.has(pin.sha256)) return pin;
  if (source.pinned) {
    const cached = ctx.cache.bySecondaryDigest(source.pinned.algorithm, source.pinned.hex);
    if (cached) return pinDownload(ctx, key, source, cached, 'kubestrap');
  }
  const origin: UrlOrigin = { property: source.base, value: ctx.bases[source.base] };
  const expected: Expected[] = [];
  if (source.pinned) expected.push({ ...source.pinned, why: 'pinned in kubestrap from the upstream CHANGELOG' });
  if (pin) expected.push({ algorithm: 'sha256', hex: pin.sha256, why: `pinned in ${ctx.lock.file}` });
  if (source.published) {
    const text = await fetchText(source.published.url, origin);
    const hex = text === undefined ? undefined : digestFromChecksumFile(text, source.published.entry, source.published.algorithm === 'sha256' ? 64 : 128);
    if (hex) expected.push({ algorithm: source.published.algorithm, hex, why: `published at ${source.published.url}` });
    else if (text !== undefined) throw new ArtifactError(source.published.url, `${source.published.url} lists no checksum for ${source.published.entry}`, `check ${source.base} (now ${origin.value}): the mirror may serve another file there`);
  }
  const sha256 = await download(ctx, source.url, origin, expected);
  const checkedBy: Pin['checkedBy'] = source.pinned ? 'kubestrap' : expected.some((e) => e.why.startsWith('published')) ? 'upstream' : pin ? pin.checkedBy : 'first-download';
  if (checkedBy === 'first-download') {
    ctx.notice(`${key}: no checksum is published for ${source.url}; pinned sha256 ${sha256} in ${ctx.lock.file} on this first download, and every later use must match it`);
  }
  return pinDownload(ctx, key, source, sha256, checkedBy);
}

function pinDownload(ctx: ResolveContext, key: string, source: ArtifactSource, sha256: string, checkedBy: Pin['checkedBy']): { sha256: string; size: number } {
  const size = statSync(ctx.cache.blobPath(sha256)).size;
  if (!ctx.lock.download(key)) ctx.lock.pinDownload(key, { sha256, size, checkedBy, from: source.url });
  return { sha256, size };
}

/** Downloads into the cache, checked against every expectation; returns the sha256. */
async function download(ctx: ResolveContext, url: string, origin: UrlOrigin, expected: Expected[]): Promise<string> {
  const temp = ctx.cache.tempPath();
  let started = false;
  const onStart = (bytes: number | undefined) => {
    started = true;
    ctx.progress?.started(url, bytes);
  };
  const got = await downloadTo(url, temp, origin, { onStart, onBytes: (n) => ctx.progress?.advanced(n) }).finally(() => {
    if (started) ctx.progress?.finished(url);
  });
  for (const e of expected) {
    const actual = e.algorithm === 'sha256' ? got.sha256 : got.sha512;
    if (actual !== e.hex) {
      rmSync(temp, { force: true });
      throw new ArtifactError(url, `checksum mismatch for ${url}: expected ${e.algorithm} ${e.hex} (${e.why}), got ${actual}; the download was deleted`, `the file was corrupted or replaced on the way, or ${origin.property} (now ${origin.value}) points at a mirror serving other bytes; re-run to download again`);
    }
  }
  ctx.cache.adopt(temp, got.sha256);
  for (const e of expected) ctx.cache.rememberDigest(e.algorithm, e.hex, got.sha256);
  return got.sha256;
}

/** The binaries inside a downloaded .tar.gz, unpacked into the cache once. */
async function ensureExtracted(ctx: ResolveContext, source: ArtifactSource, archive: string): Promise<ArchiveIndex> {
  const cached = ctx.cache.archiveIndex(archive);
  if (cached) return cached;
  if (source.layout.kind !== 'tgz') throw new Error('not an archive');
  const wanted = new Map(Object.entries(source.layout.members).map(([name, path]) => [normalize(path), name as BinaryName]));
  const index: ArchiveIndex = {};
  // Loaded here: only a download of a release archive needs it.
  const { extract } = await import('tar-stream');
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const name = wanted.get(normalize(header.name));
    if (!name || header.type !== 'file') {
      stream.resume();
      stream.on('end', next);
      return;
    }
    const temp = ctx.cache.tempPath();
    const hash = createHash('sha256');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    pipeline(stream, hashing, createWriteStream(temp, { mode: 0o755 }))
      .then(() => {
        const sha256 = hash.digest('hex');
        ctx.cache.adopt(temp, sha256);
        index[name] = { sha256, size };
        next();
      })
      .catch((err: unknown) => next(err as Error));
  });
  await pipeline(createReadStream(ctx.cache.blobPath(archive)), createGunzip(), tar);
  const absent = [...wanted.entries()].filter(([, name]) => !index[name]).map(([path]) => path);
  if (absent.length) {
    throw new ArtifactError(source.url, `${source.url} does not hold ${absent.join(', ')}`, `the archive's layout differs from what kubestrap expects: check ${source.base} and the version, or give the binaries with --artifacts-manifest`);
  }
  ctx.cache.rememberArchive(archive, index);
  return index;
}

function normalize(path: string): string {
  return path.replace(/^\.\//, '').replace(/^\/+/, '');
}
