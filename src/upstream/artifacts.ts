import { binariesOf, type Arch, type BinaryName, type Project } from './components.js';
import { hasEtcdutl, pinnedEtcdTarball } from './etcd.js';
import { pinnedTarballs } from './kubernetes.js';
import { bare, compareVersions, mustParseVersion, type Version } from './version.js';

/**
 * Where each upstream binary is published and how to check it: the official URL under a base URL
 * the user may point at a mirror, the checksum kubestrap pins (from the project's CHANGELOG), and
 * the checksum file the project publishes next to the download. A download may be the binary itself
 * or a .tar.gz holding several.
 */

/** Properties holding the base URLs, so that users behind a firewall can point them at a mirror. */
export const DOWNLOAD_BASES = {
  K8S_DOWNLOAD_URL: 'https://dl.k8s.io',
  GITHUB_DOWNLOAD_URL: 'https://github.com',
  DOCKER_DOWNLOAD_URL: 'https://download.docker.com',
} as const;
export type DownloadBase = keyof typeof DOWNLOAD_BASES;
export type DownloadBases = Record<DownloadBase, string>;

/** The base URLs a config sets (the properties are named as DOWNLOAD_BASES), defaults where it sets none. */
export function downloadBases(values: Readonly<Record<string, string>>): DownloadBases {
  return Object.fromEntries(Object.entries(DOWNLOAD_BASES).map(([key, fallback]) => [key, values[key] || fallback])) as DownloadBases;
}

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** A checksum file upstream publishes next to a download: just the digest, or `digest  name` lines. */
export interface PublishedChecksum {
  url: string;
  algorithm: DigestAlgorithm;
  /** The download's name in a list of several (SHA256SUMS); the only digest in the file is used otherwise. */
  entry: string;
}

export type SourceLayout = { kind: 'file'; binary: BinaryName } | { kind: 'tgz'; members: Partial<Record<BinaryName, string>> };

/** A checksum kubestrap carries for a download, and where upstream published it (for messages). */
export interface PinnedDigest extends Digest {
  /** e.g. `the upstream CHANGELOG`, `etcd's SHA256SUMS`. */
  from: string;
}

export interface ArtifactSource {
  url: string;
  /** The property the URL's base comes from, for messages ("check K8S_DOWNLOAD_URL"). */
  base: DownloadBase;
  pinned?: PinnedDigest;
  /**
   * The checksum file upstream publishes next to the download: a mirror that lacks it is refused
   * (unless `pinned` checks the download). Null, said for each source, only where upstream never
   * publishes one: the first download is then pinned in the cluster's lock file, with a warning.
   */
  published: PublishedChecksum | null;
  layout: SourceLayout;
}

export interface SourceRequest {
  project: Project;
  version: Version;
  arch: Arch;
  /** The binaries wanted from this project; a source is returned only if it holds one of them. */
  binaries: readonly BinaryName[];
  bases: DownloadBases;
}

/** The downloads that hold the wanted binaries of one project, version and arch. */
export function artifactSources(req: SourceRequest): ArtifactSource[] {
  const sources = CATALOG[req.project](req);
  return sources.filter((s) => provides(s).some((b) => req.binaries.includes(b)));
}

export function provides(source: ArtifactSource): BinaryName[] {
  return source.layout.kind === 'file' ? [source.layout.binary] : (Object.keys(source.layout.members) as BinaryName[]);
}

const trim = (base: string) => base.replace(/\/+$/, '');

/** A digest file that sits next to the download, named after it plus a suffix. */
function beside(url: string, suffix: string, algorithm: DigestAlgorithm = 'sha256'): PublishedChecksum {
  return { url: `${url}${suffix}`, algorithm, entry: url.split('/').at(-1)! };
}

function github(req: SourceRequest, repo: string, tag: string, asset: string): string {
  return `${trim(req.bases.GITHUB_DOWNLOAD_URL)}/${repo}/releases/download/${tag}/${asset}`;
}

function members(names: readonly BinaryName[], path: (name: BinaryName) => string): Partial<Record<BinaryName, string>> {
  return Object.fromEntries(names.map((n) => [n, path(n)]));
}

const FLANNEL_CNI_FIRST_PUBLISHED_SHA256 = mustParseVersion('v1.4.0');
const FLANNEL_CNI_SHORT_ASSETS = mustParseVersion('v1.8.0');

/**
 * The version in the name of a flannel CNI plugin archive, which upstream's scripts/version.sh
 * decides: from v1.8.0-flannel2 on it is the tag's first six characters (`VERSION=${GIT_TAG:0:6}`:
 * v1.9.1-flannel1 ships cni-plugin-flannel-linux-amd64-v1.9.1.tgz), before that the whole tag
 * (v1.5.1-flannel2 ships ...-v1.5.1-flannel2.tgz).
 */
export function flannelCniAssetVersion(v: Version): string {
  const build = Number(/-flannel(\d+)$/.exec(v.tag)?.[1] ?? 0);
  const order = compareVersions(v, FLANNEL_CNI_SHORT_ASSETS);
  return order > 0 || (order === 0 && build >= 2) ? v.tag.slice(0, 6) : v.tag;
}

const CATALOG: Record<Project, (req: SourceRequest) => ArtifactSource[]> = {
  kubernetes(req) {
    const base = trim(req.bases.K8S_DOWNLOAD_URL);
    const pinned = pinnedTarballs(req.version);
    if (pinned) {
      // The release's CHANGELOG lists the tarball's sha512: the strongest check there is. The server
      // tarball holds every component, so one download serves masters and workers alike.
      const url = `${base}/${req.version.tag}/kubernetes-server-linux-${req.arch}.tar.gz`;
      return [
        {
          url,
          base: 'K8S_DOWNLOAD_URL',
          pinned: { algorithm: 'sha512', hex: pinned.server[req.arch], from: 'the upstream CHANGELOG' },
          published: beside(url, '.sha256'),
          layout: { kind: 'tgz', members: members(binariesOf('kubernetes'), (n) => `kubernetes/server/bin/${n}`) },
        },
      ];
    }
    // Not pinned: the per-binary downloads, each with the .sha256 dl.k8s.io publishes next to it.
    return binariesOf('kubernetes').map((binary) => {
      const url = `${base}/release/${req.version.tag}/bin/linux/${req.arch}/${binary}`;
      return { url, base: 'K8S_DOWNLOAD_URL', published: beside(url, '.sha256'), layout: { kind: 'file', binary } };
    });
  },
  etcd(req) {
    const dir = `etcd-${req.version.tag}-linux-${req.arch}`;
    const url = github(req, 'etcd-io/etcd', req.version.tag, `${dir}.tar.gz`);
    const names = binariesOf('etcd').filter((n) => n !== 'etcdutl' || hasEtcdutl(req.version));
    const pinned = pinnedEtcdTarball(req.version, req.arch);
    return [
      {
        url,
        base: 'GITHUB_DOWNLOAD_URL',
        ...(pinned ? { pinned: { algorithm: 'sha256', hex: pinned, from: "the release's SHA256SUMS" } } : {}),
        published: { url: github(req, 'etcd-io/etcd', req.version.tag, 'SHA256SUMS'), algorithm: 'sha256', entry: `${dir}.tar.gz` },
        layout: { kind: 'tgz', members: members(names, (n) => `${dir}/${n}`) },
      },
    ];
  },
  flannel(req) {
    // flannel publishes no checksum file: the first download is pinned in the cluster's lock file.
    return [{ url: github(req, 'flannel-io/flannel', req.version.tag, `flanneld-${req.arch}`), base: 'GITHUB_DOWNLOAD_URL', published: null, layout: { kind: 'file', binary: 'flanneld' } }];
  },
  'flannel-cni-plugin'(req) {
    const url = github(req, 'flannel-io/cni-plugin', req.version.tag, `cni-plugin-flannel-linux-${req.arch}-${flannelCniAssetVersion(req.version)}.tgz`);
    // scripts/package.sh writes a .sha256 next to each archive; the release workflow attaches them from v1.4.0-flannel1 on.
    const published = compareVersions(req.version, FLANNEL_CNI_FIRST_PUBLISHED_SHA256) >= 0 ? beside(url, '.sha256') : null;
    return [{ url, base: 'GITHUB_DOWNLOAD_URL', published, layout: { kind: 'tgz', members: { flannel: `flannel-${req.arch}` } } }];
  },
  'cni-plugins'(req) {
    const url = github(req, 'containernetworking/plugins', req.version.tag, `cni-plugins-linux-${req.arch}-${req.version.tag}.tgz`);
    return [{ url, base: 'GITHUB_DOWNLOAD_URL', published: beside(url, '.sha256'), layout: { kind: 'tgz', members: members(binariesOf('cni-plugins'), (n) => n) } }];
  },
  containerd(req) {
    const url = github(req, 'containerd/containerd', req.version.tag, `containerd-static-${bare(req.version)}-linux-${req.arch}.tar.gz`);
    return [{ url, base: 'GITHUB_DOWNLOAD_URL', published: beside(url, '.sha256sum'), layout: { kind: 'tgz', members: members(binariesOf('containerd'), (n) => `bin/${n}`) } }];
  },
  runc(req) {
    const asset = `runc.${req.arch}`;
    return [
      {
        url: github(req, 'opencontainers/runc', req.version.tag, asset),
        base: 'GITHUB_DOWNLOAD_URL',
        published: { url: github(req, 'opencontainers/runc', req.version.tag, 'runc.sha256sum'), algorithm: 'sha256', entry: asset },
        layout: { kind: 'file', binary: 'runc' },
      },
    ];
  },
  docker(req) {
    const machine = req.arch === 'amd64' ? 'x86_64' : 'aarch64';
    const url = `${trim(req.bases.DOCKER_DOWNLOAD_URL)}/linux/static/stable/${machine}/docker-${bare(req.version)}.tgz`;
    // download.docker.com publishes no checksums for its static builds.
    return [{ url, base: 'DOCKER_DOWNLOAD_URL', published: null, layout: { kind: 'tgz', members: members(binariesOf('docker'), (n) => `docker/${n}`) } }];
  },
};
